// The single-node cloud's disk is lost, and it comes back from a backup: the real cloud, agent
// and admin CLI. A backup taken with `connector cloud admin backup` while the cloud serves a
// tunnel; a device added after it; the cloud stopped and its data directory gone; `admin
// restore` into the same path; the cloud started again on it. The agent enrolled before the
// backup reconnects by itself (same CAs, same identity), a tunnel through it works with the API
// token made before the backup, and the device added after the backup is not there. A restore
// over a running cloud is refused, even with --force; a MongoDB store is pointed to mongodump.
import { assert, assertEquals, assertMatch } from "../_fixtures/assert.ts";
import { echoThrough, randomBytes, run, sha256, Stack } from "../_fixtures/stack.ts";

Deno.test("backup while serving, disk lost, restore: the agent reconnects and tunnels work", async () => {
  await Stack.withEchoSite(async ({ stack, q, agent, handle }) => {
    const backup = `${stack.dir}/backup`;
    const before = await echoThrough(await stack.openTunnel(handle, q.apiToken), randomBytes(4096));
    assertEquals(before.received.byteLength, 4096);

    // The backup, taken while the cloud runs: progress on stderr, the summary as JSON.
    const made = await run(
      ["cloud", "admin", "backup", "--data-dir", stack.dataDir, "--out", backup, "--json"],
    );
    assertEquals(made.code, 0, made.stderr);
    assertMatch(made.stderr, /consistent snapshot; the cloud may keep running/);
    assertMatch(made.stderr, /ca\/agent-ca\.key \(private\)/);
    const summary = JSON.parse(made.stdout);
    assertEquals(summary.counts.agents, 1);
    assertEquals((await Deno.stat(`${backup}/ca/agent-ca.key`)).mode! & 0o777, 0o600);
    assertEquals((await Deno.stat(`${backup}/cloud-secret.key`)).mode! & 0o777, 0o600);
    assertEquals((await Deno.stat(`${backup}/connector.db`)).mode! & 0o777, 0o600);

    // After the backup: another device.
    const later = await stack.admin<{ deviceId: string }>(
      "device",
      "add",
      "--tenant",
      q.tenantId,
      "--site",
      q.siteId,
      "--host",
      "127.0.0.1",
      "--ports",
      "8081",
    );

    // Restoring over the running cloud is refused, --force or not; nothing is touched.
    const busy = await run(
      ["cloud", "admin", "restore", "--from", backup, "--data-dir", stack.dataDir, "--force"],
    );
    assertEquals(busy.code, 1, busy.stdout);
    assertMatch(busy.stderr, /a cloud node is running on this data directory \(node-1, seen/);

    // The disk is lost: the cloud stops, its data directory is gone.
    await stack.cloud.stop();
    await Deno.rename(stack.dataDir, `${stack.dir}/lost`);
    const restored = await run(
      ["cloud", "admin", "restore", "--from", backup, "--data-dir", stack.dataDir, "--json"],
    );
    assertEquals(restored.code, 0, restored.stderr);
    assertMatch(restored.stderr, /every checksum matches/);
    const r = JSON.parse(restored.stdout);
    assertEquals(r.backupOf, summary.createdAt);
    assertMatch(r.next, /^start the cloud on it: .* cloud --data-dir \S+cloud$/);
    assertEquals((await Deno.stat(stack.dataDir)).mode! & 0o777, 0o700);

    // The cloud on the restored directory: the agent comes back by itself.
    const reconnects = agent.count(/"control stream up"/);
    await stack.startCloud();
    const deadline = Date.now() + 30_000;
    while (agent.count(/"control stream up"/) === reconnects) {
      assert(Date.now() < deadline, "the agent did not reconnect to the restored cloud");
      await new Promise((res) => setTimeout(res, 100));
    }
    const data = randomBytes(256 << 10);
    let after: Awaited<ReturnType<typeof echoThrough>> | null = null;
    while (!after) {
      try {
        after = await echoThrough(await stack.openTunnel(handle, q.apiToken), data);
      } catch (e) {
        // The agent's data connection may still be on its way after the control stream.
        assert(Date.now() < deadline, `no tunnel after the restore: ${e}`);
        await new Promise((res) => setTimeout(res, 200));
      }
    }
    assertEquals(await sha256(after.received), await sha256(data));
    const devices = await stack.admin<{ devices: { id: string }[] }>(
      "device",
      "list",
      "--tenant",
      q.tenantId,
      "--site",
      q.siteId,
    );
    assertEquals(devices.devices.map((d) => d.id), [q.device.deviceId]);
    assert(later.deviceId !== q.device.deviceId);
  }, { store: "sqlite:" }); // the embedded store's commands, also under NC_TEST_STORE=ferretdb
});

Deno.test("backup and restore of a MongoDB store point to mongodump, and connect to nothing", async () => {
  const dir = await Deno.makeTempDir({ prefix: "nc-backup-" });
  try {
    for (const cmd of [["backup", "--out", `${dir}/bk`], ["restore", "--from", `${dir}/bk`]]) {
      // A port nothing listens on: the refusal comes before any connection.
      const r = await run(["cloud", "admin", ...cmd, "--data-dir", `${dir}/data`], {
        NC_STORE: "mongodb://127.0.0.1:9/nanodems",
      });
      assertEquals(r.code, 2, r.stderr);
      assertMatch(r.stderr, /works on the embedded store .* mongodump \/ mongorestore/);
    }
    assertEquals([...Deno.readDirSync(dir)], [], "nothing written");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
