/**
 * `deno task ha`: a two-node cloud on this machine for trying high availability — FerretDB (the
 * MongoDB wire protocol on SQLite, built the way the tests build it) as the shared store, node-1
 * and node-2 on loopback with distinct ports, the CA files and the cloud secret copied from node-1
 * to node-2 as README's "Several cloud nodes" says, and a banner naming where each listens and how
 * to point an agent at both. Ctrl-C stops everything. State stays in `--dir` (default `data-ha/`),
 * so a second run finds the same tenants and agents.
 *
 * For trying only: FerretDB v1 is no production store (README, "The store").
 * @module
 */
import { parseArgs } from "node:util";
import { ensureFerretDb } from "../tests/_fixtures/ferretdb.ts";

const HELP = `deno task ha [--dir DIR] — two cloud nodes and a shared store on this machine

  node-1  web http://127.0.0.1:8080  control 127.0.0.1:8443  data :8444  rtsp :9554  internal :7443
  node-2  web http://127.0.0.1:8081  control 127.0.0.1:8453  data :8454  rtsp :9555  internal :7444
  store   FerretDB on 127.0.0.1:27117 (files in DIR/ferretdb)

  --dir DIR   where the nodes' data directories and the store's files live (default data-ha)

Needs Go to build FerretDB the first time (about a minute, cached afterwards). Ctrl-C stops all.`;

const MAIN = new URL("../src/main.ts", import.meta.url).pathname;
const STORE_PORT = 27117;

/** The two nodes' listeners. */
const NODES = [
  { node: "node-1", http: 8080, control: 8443, data: 8444, rtsp: 9554, internal: 7443 },
  { node: "node-2", http: 8081, control: 8453, data: 8454, rtsp: 9555, internal: 7444 },
];
const CONTROL_ENDPOINTS = NODES.map((n) => `127.0.0.1:${n.control}`).join(",");

/** Copies the lines of a child's stream to stderr, prefixed, and resolves on a matching line. */
function relay(stream: ReadableStream<Uint8Array>, prefix: string, ready?: RegExp) {
  let resolve!: () => void;
  const seen = new Promise<void>((r) => (resolve = r));
  (async () => {
    let buf = "";
    for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
      buf += chunk;
      let i;
      while ((i = buf.indexOf("\n")) >= 0) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        console.error(`${prefix} ${line}`);
        if (ready?.test(line)) resolve();
      }
    }
  })().catch(() => {});
  return seen;
}

async function waitPort(port: number, child: Deno.ChildProcess, what: string): Promise<void> {
  let exited = false;
  child.status.then(() => (exited = true));
  for (let i = 0; i < 300; i++) {
    if (exited) throw new Error(`${what} exited before listening (see its lines above)`);
    try {
      (await Deno.connect({ hostname: "127.0.0.1", port })).close();
      return;
    } catch { /* not yet */ }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${what} is not listening on 127.0.0.1:${port} after 30 s`);
}

/** Whether something already listens on 127.0.0.1:`port`. */
async function inUse(port: number): Promise<boolean> {
  try {
    (await Deno.connect({ hostname: "127.0.0.1", port })).close();
    return true;
  } catch {
    return false;
  }
}

/** Copies what every node must share (README: CA files and cloud secret), keys 0600. */
async function shareSecrets(from: string, to: string): Promise<void> {
  await Deno.mkdir(`${to}/ca`, { recursive: true, mode: 0o700 });
  for (const f of ["agent-ca.pem", "agent-ca.key", "internal-ca.pem", "internal-ca.key"]) {
    await Deno.copyFile(`${from}/ca/${f}`, `${to}/ca/${f}`);
    if (f.endsWith(".key")) await Deno.chmod(`${to}/ca/${f}`, 0o600);
  }
  await Deno.copyFile(`${from}/cloud-secret.key`, `${to}/cloud-secret.key`);
  await Deno.chmod(`${to}/cloud-secret.key`, 0o600);
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    args: Deno.args,
    options: { dir: { type: "string", default: "data-ha" }, help: { type: "boolean", short: "h" } },
  });
  if (values.help) {
    console.log(HELP);
    return 0;
  }
  const dir = await Deno.realPath(".").then((cwd) =>
    values.dir!.startsWith("/") ? values.dir! : `${cwd}/${values.dir}`
  );
  await Deno.mkdir(`${dir}/ferretdb`, { recursive: true, mode: 0o700 });
  const children: Deno.ChildProcess[] = [];
  const stopAll = async () => {
    for (const c of children.reverse()) {
      try {
        c.kill("SIGTERM");
      } catch { /* gone */ }
      await c.status;
    }
  };
  Deno.addSignalListener("SIGINT", () => {
    console.error("\nstopping the two nodes and the store…");
    stopAll().then(() => Deno.exit(0));
  });
  try {
    for (const port of [STORE_PORT, ...NODES.flatMap((n) => [n.http, n.control, n.data, n.rtsp])]) {
      if (await inUse(port)) {
        throw new Error(
          `127.0.0.1:${port} is in use (another 'deno task ha' or cloud?); stop it first`,
        );
      }
    }
    console.error("ha: building or finding FerretDB (the first time takes about a minute)…");
    const bin = await ensureFerretDb((l) => console.error(`ha: ${l}`));
    const ferret = new Deno.Command(bin, {
      args: [
        "--handler=sqlite",
        `--sqlite-url=file:${dir}/ferretdb/`,
        `--listen-addr=127.0.0.1:${STORE_PORT}`,
        "--telemetry=disable",
        "--debug-addr=-",
        "--log-level=error",
        `--state-dir=${dir}/ferretdb`,
      ],
      stdin: "null",
      stdout: "null",
      stderr: "piped",
    }).spawn();
    children.push(ferret);
    relay(ferret.stderr, "[store] ");
    await waitPort(STORE_PORT, ferret, "FerretDB");
    const store = `mongodb://127.0.0.1:${STORE_PORT}/nanodems?directConnection=true`;
    console.error(`ha: store up at ${store}`);

    for (const [i, n] of NODES.entries()) {
      const dataDir = `${dir}/${n.node}`;
      await Deno.mkdir(dataDir, { recursive: true, mode: 0o700 });
      if (i > 0) await shareSecrets(`${dir}/${NODES[0].node}`, dataDir);
      const child = new Deno.Command(Deno.execPath(), {
        args: [
          "run",
          "-A",
          MAIN,
          "cloud",
          "--node",
          n.node,
          "--data-dir",
          dataDir,
          "--store",
          store,
          "--http",
          `127.0.0.1:${n.http}`,
          "--control",
          `127.0.0.1:${n.control}`,
          "--data",
          `127.0.0.1:${n.data}`,
          "--rtsp",
          `127.0.0.1:${n.rtsp}`,
          "--internal",
          `127.0.0.1:${n.internal}`,
          "--internal-endpoint",
          `127.0.0.1:${n.internal}`,
          "--control-hostnames",
          "127.0.0.1,localhost",
          "--control-endpoint",
          CONTROL_ENDPOINTS,
          "--log-format",
          "json",
        ],
        stdin: "null",
        stdout: "piped",
        stderr: "piped",
        env: { NO_COLOR: "1" },
      }).spawn();
      children.push(child);
      const ready = relay(child.stderr, `[${n.node}]`, /"cloud ready"/);
      relay(child.stdout, `[${n.node}]`);
      await Promise.race([
        ready,
        child.status.then(() => {
          throw new Error(`${n.node} exited (a port in use? see its lines above)`);
        }),
      ]);
    }
    const admin = `deno run -A src/main.ts cloud admin --data-dir ${dir}/node-1 --store '${store}'`;
    console.error(`
Two cloud nodes on one shared store (Ctrl-C stops all three):
  node-1   http://127.0.0.1:8080/   control 127.0.0.1:8443   rtsp :9554   internal :7443
  node-2   http://127.0.0.1:8081/   control 127.0.0.1:8453   rtsp :9555   internal :7444
  store    ${store}

Try it:
  ${admin.replace("--data-dir", "quickstart --ports 22 --data-dir")}
  deno run -A src/main.ts agent enroll --cloud http://127.0.0.1:8080 --state ${dir}/agent --token -
      (paste the enrollment token, then Ctrl-D)
  deno run -A src/main.ts agent run --state ${dir}/agent --control-endpoint ${CONTROL_ENDPOINTS}
The agent races both nodes and takes whichever answers; stop that node (kill its pid) and it is
back on the other within seconds. Both web UIs show every agent, with the node it lives on.
`);
    await Promise.all(children.map((c) => c.status));
    return 0;
  } catch (e) {
    console.error(`ha: ${(e as Error).message}`);
    await stopAll();
    return 1;
  }
}

Deno.exit(await main());
