// The CLI tunnel (and the cloud) against the open-file limit, with the real cloud, agent and `connector tunnel
// run` under `prlimit`. Every listener is a descriptor: a session of 1 401 device ports under a
// hard limit of 400 used to fail one bind per pair past the limit (a warning each), then every
// connection, and the first accept that met EMFILE ended that pair's accept loop for good while
// the pair still looked bound. Now the CLI listens on as many pairs as the limit leaves room for,
// says so once with the limit and what to do, and accepts again once descriptors come back.
import { assert, assertEquals } from "../_fixtures/assert.ts";
import { ANY_LOOPBACK_PORTS, echoVia, Proc, Stack } from "../_fixtures/stack.ts";
import { seedDevices } from "../_fixtures/seed.ts";
import { until } from "../_fixtures/until.ts";

/** Whether an echo of `size` bytes through ip:port comes back whole within `ms`. */
async function echoWithin(ip: string, port: number, size: number, ms: number): Promise<boolean> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<boolean>((r) => (timer = setTimeout(() => r(false), ms)));
  try {
    return await Promise.race([echoVia(ip, port, size), late]);
  } finally {
    clearTimeout(timer);
  }
}

/** A connection through the CLI that answered a one-byte echo within `ms`, or null. */
async function heldEcho(ip: string, port: number, ms: number): Promise<Deno.TcpConn | null> {
  const conn = await Deno.connect({ hostname: ip, port });
  await conn.write(new Uint8Array([7]));
  const buf = new Uint8Array(1);
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<null>((r) => (timer = setTimeout(() => r(null), ms)));
  const n = await Promise.race([conn.read(buf).catch(() => null), late]);
  clearTimeout(timer);
  if (n === 1 && buf[0] === 7) return conn;
  conn.close();
  return null;
}

const SEEDED = 700;
/** 700 seeded devices (127.77.x.y, never dialled: no connection goes to them) of 2 ports each. */
const PAIRS = 1 + SEEDED * 2;
const LISTENING = /listening listen=/;

/** How many sockets `proc` listens on (the kernel's list, `ss -ltnp`). */
async function listeningSockets(proc: Proc): Promise<number> {
  const out = await new Deno.Command("ss", { args: ["-ltnpH"], stdout: "piped" }).output();
  const mine = `pid=${proc.child.pid},`;
  return new TextDecoder().decode(out.stdout).split("\n").filter((l) => l.includes(mine)).length;
}
const SHORT = /listening on (\d+) of the session's (\d+) device ports: this process may hold/;

Deno.test("CLI tunnel run under the open-file limit: as many pairs as it allows, said once; accepting survives running out", async () => {
  await Stack.withEchoSite(async ({ stack, echo, q }) => {
    const session = await stack.cliSession(q);
    const ip = q.device.loopbackIp;
    const run = (nofile: string) =>
      new Proc(
        ["tunnel", "run", "--cloud", stack.url, "--refresh", "1s"],
        { NC_TOKEN: session.token },
        ["prlimit", `--nofile=${nofile}`, "--"],
      );

    // A hard limit of 400. The CLI listens on the real device's pair; then the site grows to
    // 1 401 pairs (loopback addresses are spread over 127.0.0.0/16, so the real pair is anywhere
    // in the plan's order): it stays bound, the plan fills the rest of the room, and the CLI
    // says once how far it got, with the limit.
    const cli = run("400:400");
    stack.defer(() => cli.stop("SIGKILL"));
    await cli.waitFor(new RegExp(`listening listen=${ip}:${echo.port}`));
    await seedDevices(stack, q.tenantId, q.siteId, SEEDED, 8, {
      host: (i) => `127.77.${i >> 8}.${i & 255}`,
      ports: [1, 2],
    });
    // (The plan may be read while the seeding is under way: the line for the whole of it.)
    const whole = new RegExp(`listening on (\\d+) of the session's (${PAIRS}) device ports: this`);
    const line = await cli.waitFor(whole, 60_000);
    const m = whole.exec(line)!;
    const listening = Number(m[1]);
    assertEquals(Number(m[2]), PAIRS);
    assert(listening > 150 && listening < 400 - 128, `listening on ${listening}`);
    assert(line.includes("400 open files (ulimit -n)"), line);
    assert(line.includes("keeps 128 of them"), line);
    assert(line.includes("Raise the limit"), line);
    await until(`${listening} listening`, async () => await listeningSockets(cli) === listening);
    // Each sync that bound a few logged each pair; one that bound many, one line for them all.
    const summed = () =>
      cli.lines.map((l) => /listening on (\d+) more pairs, \d+ in all/.exec(l)?.[1])
        .filter((n) => n !== undefined).map(Number);
    await until(
      "every pair bound in the log",
      () => cli.count(LISTENING) + summed().reduce((a, b) => a + b, 0) === listening,
    );
    assert(summed().length >= 1, "the growth in a line, not a line per pair");
    // On the terminal too (standard error: it may arrive after the log's line).
    await cli.waitFor(/^nanodems-tunnel: listening on/);
    assertEquals(cli.count(/nanodems-tunnel: listening on/), 1, "said once on the terminal");
    assertEquals(cli.count(/cannot listen/), 0, "no failed bind per pair");
    assertEquals(cli.count(/stopped listening/), 0, "what listened stays");
    assert(await echoWithin(ip, echo.port, 64 << 10, 10_000), "bytes through the real pair");

    // Connections until the CLI has no descriptor left for one more: each holds two of them.
    const held: Deno.TcpConn[] = [];
    for (let i = 0; i < 200; i++) {
      const c = await heldEcho(ip, echo.port, 5_000);
      if (!c) break;
      held.push(c);
    }
    assert(held.length < 200, `the CLI carried ${held.length} at once: the limit was never met`);
    assert(held.length >= 40, `only ${held.length} connections at once`);
    // The one past the limit met EMFILE accepting it, or dialing the cloud for it.
    await until(
      "the limit met",
      () => cli.count(/accept failed; accepting again.*os error 24|tunnel refused/) > 0,
    );
    for (const c of held) c.close();
    // The pair still accepts (before, its accept loop had ended at the first EMFILE).
    let again = false;
    for (let i = 0; i < 6 && !again; i++) {
      again = await echoWithin(ip, echo.port, 64 << 10, 5_000);
    }
    assert(again, `no echo after the connections ended; last lines:\n${cli.lines.slice(-10)}`);
    assertEquals(cli.count(/nanodems-tunnel: listening on/), 1, "still said once");
    await cli.stop();

    // A low soft limit under a high hard one costs nothing: the runtime raises it; all listen.
    const roomy = run("256:4096");
    stack.defer(() => roomy.stop("SIGKILL"));
    await until(`${PAIRS} pairs listening`, async () => await listeningSockets(roomy) === PAIRS);
    await roomy.waitFor(new RegExp(`listening on ${PAIRS} pairs \\(each in the table\\)`));
    assertEquals(roomy.count(LISTENING), 0, "one line for the first plan, not one per pair");
    assert(await echoWithin(ip, echo.port, 64 << 10, 10_000), "bytes through the real pair");
    assertEquals(roomy.count(SHORT), 0);
    assertEquals(roomy.count(/cannot listen/), 0);
  });
});

Deno.test("cloud under a low open-file limit says at start how many agents that allows", async () => {
  const dir = await Deno.makeTempDir({ prefix: "nanodems-nofile-" });
  const cloud = new Proc(
    [
      "cloud",
      "--data-dir",
      dir,
      "--log-format",
      "json",
      ...ANY_LOOPBACK_PORTS,
    ],
    {},
    ["prlimit", "--nofile=4096:4096", "--"],
  );
  try {
    const line = JSON.parse(await cloud.waitFor(/open files \(the hard limit\)/, 30_000));
    assertEquals(line.openFiles, 4096);
    assert(line.msg.includes("fewer than 2048 agents"), line.msg);
    assert(line.msg.includes("LimitNOFILE=65536"), line.msg);
    await cloud.waitFor(/"cloud ready"/, 30_000);
  } finally {
    await cloud.stop();
    await Deno.remove(dir, { recursive: true });
  }
});
