/**
 * The browser terminal's pure parts: the asciicast recorder (UTF-8 split across reads, input
 * kept only when asked, resizes), host key fingerprints as ssh-keygen prints them, pinning on
 * first use and the admin's accept (on the real SQLite store), the policy's API shape and the idle warning time,
 * and the browser message schema.
 * @module
 */
import {
  assert,
  assertEquals,
  assertMatch,
  assertRejects,
  assertStringIncludes,
} from "../../../../_fixtures/assert.ts";
import { ManualClock } from "../../../../../src/shared/clock.ts";
import { AsciicastRecorder } from "../../../../../src/cloud/access/terminal/recorder.ts";
import {
  acceptOfferedKey,
  describeHostKey,
  pinHostKey,
  recordOfferedKey,
  verifyHostKey,
} from "../../../../../src/cloud/access/terminal/host_key.ts";
import {
  applyPolicyChange,
  DEFAULT_TERMINAL_POLICY,
  idleWarningAfterMs,
  policyView,
} from "../../../../../src/cloud/access/terminal/policy.ts";
import { parseClientMessage } from "../../../../../src/shared/protocol/terminal.ts";
import { Inbox } from "../../../../../src/cloud/access/terminal/inbox.ts";
import { SessionTimers } from "../../../../../src/cloud/access/terminal/session_timers.ts";
import { openSqliteStore } from "../../../../../src/cloud/store/sqlite.ts";

Deno.test("recorder: asciicast v2 header, output decoded across reads, input only when asked", () => {
  const clock = new ManualClock(1_700_000_000_000);
  const rec = new AsciicastRecorder({
    now: () => clock.now(),
    cols: 80,
    rows: 24,
    recordInput: false,
  });
  const bytes = new TextEncoder().encode("héllo ✓\r\n");
  rec.output(bytes.subarray(0, 2)); // splits "é"
  clock.advance(1500);
  rec.output(bytes.subarray(2));
  rec.input("secret\r");
  rec.resize(100, 30);
  const [header, ...events] = rec.text().trim().split("\n").map((l) => JSON.parse(l));
  assertEquals(header, {
    version: 2,
    width: 80,
    height: 24,
    timestamp: 1_700_000_000,
    env: { TERM: "xterm-256color" },
  });
  assertEquals(events, [[0, "o", "h"], [1.5, "o", "éllo ✓\r\n"], [1.5, "r", "100x30"]]);
  const withInput = new AsciicastRecorder({ now: () => 0, cols: 80, rows: 24, recordInput: true });
  withInput.input("ls\r");
  assertEquals(JSON.parse(withInput.text().trim().split("\n")[1]), [0, "i", "ls\r"]);
});

Deno.test("host keys: fingerprint as ssh-keygen prints it; pinned on first use, changed blocked, accepted", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await new Deno.Command("ssh-keygen", {
      args: ["-q", "-t", "ed25519", "-N", "", "-f", `${dir}/k`],
    }).output();
    const pub = (await Deno.readTextFile(`${dir}/k.pub`)).split(" ");
    const blob = Uint8Array.from(atob(pub[1]), (c) => c.charCodeAt(0));
    const printed = new TextDecoder().decode(
      (await new Deno.Command("ssh-keygen", { args: ["-lf", `${dir}/k.pub`] }).output()).stdout,
    ).split(" ")[1];
    const key = describeHostKey(blob);
    assertEquals(key, { algorithm: "ssh-ed25519", fingerprint: printed });

    const clock = new ManualClock();
    const store = await openSqliteStore({ path: `${dir}/db.sqlite`, clock });
    try {
      const t = await store.createTenant({ name: "A" });
      const site = await store.createSite({ tenantId: t.id, name: "S" });
      const dev = await store.createDevice({
        tenantId: t.id,
        siteId: site.id,
        host: "192.0.2.1",
        ports: [22],
      });
      const c = {
        tenantId: t.id,
        deviceId: dev.id,
        port: 22,
        actor: "user:u",
        handle: "h",
        now: 5,
      };
      await assertRejects(() => acceptOfferedKey(store, c), "nothing offered yet");
      // A first key is pinned only once proven (pinHostKey, after the key exchange).
      assertEquals(await verifyHostKey(store, c, key), { kind: "first" });
      assertEquals(await store.getSshHostKey(t.id, dev.id, 22), null);
      await pinHostKey(store, c, key);
      await pinHostKey(store, c, { ...key, fingerprint: "SHA256:" + "C".repeat(43) }); // kept
      assertEquals(await verifyHostKey(store, c, key), { kind: "pinned" });
      const other = { algorithm: "ssh-rsa", fingerprint: "SHA256:" + "A".repeat(43) };
      const verdict = await verifyHostKey(store, c, other);
      assert(verdict.kind === "changed");
      const err = verdict.error;
      assertEquals(err.code, "host_key_changed");
      assertMatch(err.message, /^WARNING: the device's SSH host key has changed/);
      // (a fingerprint is base64: '+' may appear any number of times, so no regular expression)
      assertStringIncludes(err.message, `Pinned ssh-ed25519 ${key.fingerprint}`);
      // A changed key is offered to the admins only once the device proved it holds it.
      await assertRejects(() => acceptOfferedKey(store, c), "nothing offered before the proof");
      await recordOfferedKey(store, c, other);
      await assertRejects(() => acceptOfferedKey(store, c, "SHA256:" + "B".repeat(43)));
      const pin = await acceptOfferedKey(store, c, other.fingerprint);
      assertEquals([pin.algorithm, pin.fingerprint, pin.offeredFingerprint], [
        "ssh-rsa",
        other.fingerprint,
        null,
      ]);
      await verifyHostKey(store, c, other);
      const actions = (await store.listAudit({ tenantId: t.id })).map((e) => e.action).sort();
      assertEquals(actions, [
        "device.hostkey.accept",
        "device.hostkey.changed",
        "device.hostkey.first_seen",
      ]);
    } finally {
      await store.close();
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("policy: defaults, API shape in seconds and days, idle warning a minute ahead", () => {
  assertEquals(policyView(DEFAULT_TERMINAL_POLICY), {
    maxPerUser: 5,
    maxPerDevice: 3,
    idleTimeoutSeconds: 900,
    maxSessionSeconds: 28_800,
    recordInput: false,
    retentionDays: 30,
  });
  const p = applyPolicyChange(DEFAULT_TERMINAL_POLICY, {
    idleTimeoutSeconds: 60,
    retentionDays: 7,
  });
  assertEquals([p.idleTimeoutMs, p.retentionMs, p.maxPerUser], [60_000, 7 * 86_400_000, 5]);
  assertEquals(idleWarningAfterMs(900_000), 840_000);
  assertEquals(idleWarningAfterMs(2_000), 1_000);
});

Deno.test("messages: the browser's schema; anything else is refused", () => {
  assertEquals(parseClientMessage('{"type":"resize","cols":80,"rows":24}'), {
    type: "resize",
    cols: 80,
    rows: 24,
  });
  for (
    const bad of [
      "not json",
      '{"type":"resize","cols":0,"rows":24}',
      '{"type":"exec","cmd":"rm"}',
      '{"type":"login","username":"","password":"x"}',
    ]
  ) assert(parseClientMessage(bad) === null, bad);
});

Deno.test("inbox: takes by type, keeps the rest in order, bounded, closing wakes waiters", async () => {
  const inbox = new Inbox<{ type: string; n: number }>(3, () => Date.now());
  assert(inbox.push({ type: "input", n: 1 }));
  assert(inbox.push({ type: "hello", n: 2 }));
  assertEquals(await inbox.next("hello", 1000), { type: "hello", n: 2 });
  const later = inbox.next("login", 5000);
  inbox.push({ type: "login", n: 3 });
  assertEquals(await later, { type: "login", n: 3 });
  assert(inbox.push({ type: "input", n: 4 }) && inbox.push({ type: "input", n: 5 }));
  assert(!inbox.push({ type: "input", n: 6 }), "full");
  assertEquals(inbox.drain().map((m) => m.n), [1, 4, 5]);
  assertEquals(await inbox.next("hello", 10), null, "nothing within the time");
  const waiting = inbox.next("answers", 60_000);
  inbox.close();
  assertEquals(await waiting, null);
});

Deno.test("session timers: warned before the idle close; stopped timers never fire", async () => {
  const events: string[] = [];
  const t = new SessionTimers({ idleTimeoutMs: 200, maxSessionMs: 60_000 }, {
    warn: (left) => events.push(`warn ${left}`),
    idle: () => events.push("idle"),
    max: () => events.push("max"),
  });
  while (!events.includes("idle")) await new Promise((r) => setTimeout(r, 20));
  t.stop();
  assertEquals(events, ["warn 100", "idle"]);
  const stopped = new SessionTimers({ idleTimeoutMs: 20, maxSessionMs: 20 }, {
    warn: () => events.push("late"),
    idle: () => events.push("late"),
    max: () => events.push("late"),
  });
  stopped.activity();
  stopped.stop();
  stopped.activity();
  await new Promise((r) => setTimeout(r, 100));
  assert(!events.includes("late"));
});
