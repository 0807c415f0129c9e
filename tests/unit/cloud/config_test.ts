import { assert, assertEquals, assertStringIncludes } from "../../_fixtures/assert.ts";
import { loadCloudConfig } from "../../../src/cloud/config.ts";
import { redactStoreUrl } from "../../../src/cloud/store/open.ts";
import { UsageError } from "../../../src/shared/cli.ts";
import { ANY_LOOPBACK_PORTS, run } from "../../_fixtures/stack.ts";

Deno.test("cloud config: defaults, and a bad value names the field, flag and env var", () => {
  const c = loadCloudConfig({});
  assertEquals(c.control, { hostname: "0.0.0.0", port: 8443 });
  assertEquals(c.enrollmentTtlMs, 24 * 3600e3);
  assertEquals(c.controlHostnames, ["localhost", "127.0.0.1"]);
  assertEquals(c.dataPublicPort, null);
  assertEquals(loadCloudConfig({ "data-public-port": "443" }).dataPublicPort, 443);
  for (const bad of ["0", "65536", "https", "44.5"]) {
    try {
      loadCloudConfig({ "data-public-port": bad });
      throw new Error(`expected a UsageError for ${bad}`);
    } catch (e) {
      if (!(e instanceof UsageError)) throw e;
      assertStringIncludes(e.message, "--data-public-port / NC_DATA_PUBLIC_PORT");
      assertStringIncludes(e.message, "expected a port number 1-65535");
    }
  }
  try {
    loadCloudConfig({ control: "nope", "enrollment-ttl": "soon" });
    throw new Error("expected a UsageError");
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    assertStringIncludes(e.message, "--control / NC_CONTROL_LISTEN");
    assertStringIncludes(e.message, 'expected HOST:PORT (e.g. 0.0.0.0:8443), got "nope"');
    assertStringIncludes(e.message, "--enrollment-ttl / NC_ENROLLMENT_TTL");
  }
});

Deno.test("cloud config: the control certificate names the public URL's host unless --control-hostnames says", () => {
  const names = (values: Record<string, string>) => loadCloudConfig(values).controlHostnames;
  assertEquals(names({ "public-url": "https://connector.example.com" }), [
    "connector.example.com",
    "localhost",
    "127.0.0.1",
  ]);
  assertEquals(names({ "public-url": "https://[2001:db8::7]:8443/" })[0], "2001:db8::7");
  assertEquals(names({ "public-url": "http://127.0.0.1:8080" }), ["localhost", "127.0.0.1"]);
  assertEquals(names({ "public-url": "http://localhost:8080" }), ["localhost", "127.0.0.1"]);
  assertEquals(
    names({
      "public-url": "https://connector.example.com",
      "control-hostnames": "agents.example.com",
    }),
    ["agents.example.com"],
  );
});

/** Each of `bads` as `flag` is a UsageError naming the flag and its env var, and what it expects. */
function refused(flag: string, bads: string[], names: string, expected: string): void {
  for (const bad of bads) {
    try {
      loadCloudConfig({ [flag]: bad });
      throw new Error(`expected a UsageError for ${bad}`);
    } catch (e) {
      if (!(e instanceof UsageError)) throw e;
      assertStringIncludes(e.message, names);
      assertStringIncludes(e.message, expected);
    }
  }
}

Deno.test("cloud config: --event-retention-days is 90 by default, a number of days, or refused", () => {
  assertEquals(loadCloudConfig({}).eventRetentionDays, 90);
  assertEquals(loadCloudConfig({ "event-retention-days": "30" }).eventRetentionDays, 30);
  refused(
    "event-retention-days",
    ["0", "off", "2.5", "36501"],
    "--event-retention-days / NC_EVENT_RETENTION_DAYS",
    "expected a whole number of days (1-36500)",
  );
});

Deno.test("cloud config: --audit-retention-days is off by default, a number of days, or refused", () => {
  assertEquals(loadCloudConfig({}).auditRetentionDays, null);
  assertEquals(loadCloudConfig({ "audit-retention-days": "off" }).auditRetentionDays, null);
  assertEquals(loadCloudConfig({ "audit-retention-days": "400" }).auditRetentionDays, 400);
  refused(
    "audit-retention-days",
    ["0", "-3", "2.5", "forever", "36501"],
    "--audit-retention-days / NC_AUDIT_RETENTION_DAYS",
    "expected a whole number of days (1-36500) or off",
  );
});

Deno.test("cloud config: --motion-max-cameras is 2000 by default, a number of cameras, or refused", () => {
  assertEquals(loadCloudConfig({}).motionMaxCameras, 2000);
  assertEquals(loadCloudConfig({ "motion-max-cameras": "5000" }).motionMaxCameras, 5000);
  refused(
    "motion-max-cameras",
    ["0", "-1", "2.5", "many", "100001"],
    "--motion-max-cameras / NC_MOTION_MAX_CAMERAS",
    "expected a whole number of cameras (1-100000)",
  );
});

Deno.test("cloud config: --motion-subscribe-concurrency is 16 by default, a number of cameras, or refused", () => {
  assertEquals(loadCloudConfig({}).motionSubscribeConcurrency, 16);
  assertEquals(
    loadCloudConfig({ "motion-subscribe-concurrency": "4" }).motionSubscribeConcurrency,
    4,
  );
  refused(
    "motion-subscribe-concurrency",
    ["0", "-1", "2.5", "all", "1001"],
    "--motion-subscribe-concurrency / NC_MOTION_SUBSCRIBE_CONCURRENCY",
    "expected a whole number of cameras (1-1000)",
  );
});

Deno.test("cloud config: --smtp is off by default, a mail server, or refused; --mail-from an address", () => {
  assertEquals(loadCloudConfig({}).webhooks.smtp, null);
  assertEquals(loadCloudConfig({}).webhooks.mailFrom, null);
  const c = loadCloudConfig({
    smtp: "smtps://u:p@mail.example.com",
    "mail-from": "Cams <cams@example.com>",
  });
  assertEquals([c.webhooks.smtp?.host, c.webhooks.smtp?.port], ["mail.example.com", 465]);
  assertEquals(c.webhooks.mailFrom, "Cams <cams@example.com>");
  refused(
    "smtp",
    ["http://mail.example.com"],
    "--smtp / NC_SMTP_URL",
    "expected smtp:// or smtps://",
  );
  refused(
    "mail-from",
    ["nobody", "a@b\r\nBcc: x@y"],
    "--mail-from / NC_MAIL_FROM",
    'expected an address, or "Name <address>"',
  );
});

Deno.test("connector: --help and --version for every role; bad input exits 2 with one line", async () => {
  for (
    const args of [["--help"], ["cloud", "--help"], ["agent", "--help"], ["tunnel", "--help"], [
      "cloud",
      "admin",
      "--help",
    ]]
  ) {
    const r = await run(args);
    assertEquals(r.code, 0, args.join(" "));
    assertStringIncludes(r.stdout, "Usage");
  }
  for (const role of ["cloud", "agent", "tunnel"]) {
    const r = await run([role, "--version"]);
    assertEquals(r.code, 0);
    assertStringIncludes(r.stdout, "0.1.0");
  }
  const bad = await run(["cloud", "--http", "nowhere"], { NC_DATA_DIR: "/nonexistent" });
  assertEquals(bad.code, 2);
  assertStringIncludes(bad.stderr, "--http / NC_HTTP_LISTEN");
  const env = await run(["cloud"], { NC_LOG_LEVEL: "loud" });
  assertEquals(env.code, 2);
  assertStringIncludes(env.stderr, "--log-level / NC_LOG_LEVEL");
  const unknown = await run(["cloud", "--frobnicate"]);
  assertEquals(unknown.code, 2);
  assertStringIncludes(unknown.stderr, "frobnicate");
  const agent = await run(["agent", "run", "--state", "/nonexistent/dir"]);
  assertEquals(agent.code, 2);
  assertStringIncludes(agent.stderr, "not enrolled");
});

Deno.test("cloud config: the RTSP gateway and the cloud secret file", () => {
  const c = loadCloudConfig({});
  assertEquals(c.rtsp, { hostname: "0.0.0.0", port: 9554 });
  assertEquals([c.rtspPublicUrl, c.secretKeyFile], [null, null]);
  const set = loadCloudConfig({
    rtsp: "127.0.0.1:0",
    "rtsp-public-url": "rtsp://cams.example.com:554",
    "secret-key-file": "/run/secrets/nc.key",
  });
  assertEquals(set.rtsp, { hostname: "127.0.0.1", port: 0 });
  assertEquals(set.rtspPublicUrl, "rtsp://cams.example.com:554");
  assertEquals(set.secretKeyFile, "/run/secrets/nc.key");
  for (
    const [k, v, flag] of [["rtsp", "9554", "--rtsp / NC_RTSP"], [
      "rtsp-public-url",
      "http://x/y",
      "--rtsp-public-url / NC_RTSP_PUBLIC_URL",
    ]]
  ) {
    try {
      loadCloudConfig({ [k]: v });
      throw new Error("expected a UsageError");
    } catch (e) {
      if (!(e instanceof UsageError)) throw e;
      assertStringIncludes(e.message, flag);
    }
  }
});

Deno.test("cloud config: internal listener, its advertised endpoint, metrics, a control endpoint list", () => {
  const d = loadCloudConfig({});
  assertEquals(d.internal, { hostname: "0.0.0.0", port: 7443 });
  assertEquals(d.internalEndpoint, null);
  assertEquals(d.metrics, null);
  const c = loadCloudConfig({
    internal: "127.0.0.2:7443",
    "internal-endpoint": "127.0.0.2:7443",
    metrics: "127.0.0.1:9100",
    "control-endpoint": "node-1.example.com:8443,node-2.example.com:8443",
  });
  assertEquals(c.internal, { hostname: "127.0.0.2", port: 7443 });
  assertEquals(c.internalEndpoint, "127.0.0.2:7443");
  assertEquals(c.metrics, { hostname: "127.0.0.1", port: 9100 });
  assertEquals(c.controlEndpoint, "node-1.example.com:8443,node-2.example.com:8443");
  assertEquals(loadCloudConfig({ internal: "off" }).internal, null);
  for (const [k, v] of [["control-endpoint", "a:1,,b:2"], ["internal-endpoint", "nope"]]) {
    try {
      loadCloudConfig({ [k]: v });
      throw new Error(`expected a UsageError for ${k}`);
    } catch (e) {
      if (!(e instanceof UsageError)) throw e;
      assertStringIncludes(e.message, `--${k}`);
    }
  }
});
Deno.test("cloud config: --store is sqlite: by default, a mongodb URI, or refused naming the flag", () => {
  assertEquals(loadCloudConfig({}).store, "sqlite:");
  const url = "mongodb://nc:s3cret@db-1:27017,db-2:27017/nanodems?replicaSet=rs0";
  assertEquals(loadCloudConfig({ store: url }).store, url);
  assertEquals(
    loadCloudConfig({ store: "mongodb+srv://db.example.com/nc" }).store.length > 0,
    true,
  );
  assertEquals(
    loadCloudConfig({ store: "sqlite:/var/lib/nc/other.db" }).store,
    "sqlite:/var/lib/nc/other.db",
  );
  assertEquals(
    redactStoreUrl(url),
    "mongodb://nc:***@db-1:27017,db-2:27017/nanodems?replicaSet=rs0",
  );
  assertEquals(redactStoreUrl("sqlite:"), "sqlite:");
  for (const bad of ["postgres://x/y", "mongodb://", "./data/x.db"]) {
    try {
      loadCloudConfig({ store: bad });
      throw new Error(`expected a UsageError for ${bad}`);
    } catch (e) {
      if (!(e instanceof UsageError)) throw e;
      assertStringIncludes(e.message, "--store / NC_STORE");
      assertStringIncludes(e.message, "mongodb://");
    }
  }
});

Deno.test("connector cloud admin: an unreachable MongoDB store fails with the URI, password hidden", async () => {
  const dir = await Deno.makeTempDir({ prefix: "nc-store-" });
  try {
    const r = await run([
      "cloud",
      "admin",
      "tenant",
      "list",
      "--data-dir",
      dir,
    ], { NC_STORE: "mongodb://ops:hunter2secret@127.0.0.1:1/nanodems" });
    assertEquals(r.code === 0, false);
    assertStringIncludes(r.stderr, "cannot open the store mongodb://ops:***@127.0.0.1:1/nanodems");
    assertStringIncludes(
      r.stderr,
      "nothing listens there: is MongoDB running, on that host and port",
    );
    assertEquals(r.stderr.includes("hunter2secret"), false, "the password is never printed");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("connector cloud on an unreachable MongoDB: says what it waits for, then what to check", async () => {
  const dir = await Deno.makeTempDir({ prefix: "nc-store-" });
  try {
    const r = await run([
      "cloud",
      "--data-dir",
      dir,
      "--node",
      "node-1",
      ...ANY_LOOPBACK_PORTS,
    ], { NC_STORE: "mongodb://127.0.0.1:1/nanodems" });
    assertEquals(r.code === 0, false);
    const waiting = r.stderr.indexOf("connecting to the shared store");
    const failed = r.stderr.indexOf("cannot open the store mongodb://127.0.0.1:1/nanodems");
    assert(waiting >= 0 && failed > waiting, r.stderr);
    assertStringIncludes(r.stderr, "is MongoDB running, on that host and port, and reachable");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
