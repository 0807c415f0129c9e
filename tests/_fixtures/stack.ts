/**
 * The one fixture every end-to-end test uses: it starts the real `connector cloud` process on
 * loopback port 0 with a temp data directory, runs the admin CLI, enrolls and runs real
 * `connector agent` processes, and starts TCP targets — in one call — and tears it all down.
 * @module
 */
import * as net from "node:net";
// @ts-types="@types/ws"
import WebSocket from "ws";
import { type FerretDb, startFerretDb } from "./ferretdb.ts";
import { restartablePorts } from "./ports.ts";

const ROOT = new URL("../../", import.meta.url).pathname;
const MAIN = `${ROOT}src/main.ts`;
/** Where the agents of tests send ONVIF probes unless a test names a responder: UDP discard. */
export const NO_DISCOVERY = "127.0.0.1:9";

/** The break-glass admin key every test cloud runs with. */
/** Each of the cloud's five listeners on a free loopback port: a node started only to see it fail. */
export const ANY_LOOPBACK_PORTS: readonly string[] = [
  "--http",
  "--control",
  "--data",
  "--rtsp",
  "--internal",
]
  .flatMap((flag) => [flag, "127.0.0.1:0"]);

export const TEST_ADMIN_KEY = "test-admin-key-7Hq2Lw9Zp4Xc1Vb8Nm3Kd6Fg";

/** A spawned connector process with its log lines collected. */
export class Proc {
  readonly child: Deno.ChildProcess;
  readonly lines: string[] = [];
  #waiters: { re: RegExp; resolve: (l: string) => void }[] = [];
  readonly exited: Promise<Deno.CommandStatus>;

  /**
   * Spawns `deno run -A src/main.ts ...args`. Agents check device reachability only when a test
   * asks (`--reachability-interval`, which wins over the environment): a check is a TCP connect
   * to the device, which tests that count or accept a device's connections would see.
   * `prefix` runs it under another command (`["prlimit", "--nofile=400:400", "--"]`); `exec`
   * is the deno executable (default this one's).
   */
  constructor(
    args: string[],
    env: Record<string, string> = {},
    prefix: string[] = [],
    exec = Deno.execPath(),
  ) {
    const argv = [...prefix, exec, "run", "-A", MAIN, ...args];
    this.child = new Deno.Command(argv[0], {
      args: argv.slice(1),
      env: {
        NO_COLOR: "1",
        NC_REACHABILITY_INTERVAL: "0",
        // An agent's ONVIF probe goes to a loopback port nothing answers unless a test names its
        // own responder: never to the multicast groups, whose datagrams would leave the machine
        // (a fuzzed sibling's "discover" reaches a running agent too).
        NC_DISCOVERY_TARGETS: NO_DISCOVERY,
        ...env,
      },
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    this.exited = this.child.status;
    this.#output = Promise.all([
      this.#collect(this.child.stdout),
      this.#collect(this.child.stderr),
    ]).then(() => {}, () => {});
  }

  /** Settles once the process has exited and all its output is in `lines`. */
  readonly #output: Promise<void>;

  async #collect(stream: ReadableStream<Uint8Array>) {
    let buf = "";
    for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
      buf += chunk;
      let i;
      while ((i = buf.indexOf("\n")) >= 0) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        this.lines.push(line);
        if (Deno.env.get("NC_TEST_VERBOSE")) console.error(`  | ${line}`);
        this.#waiters = this.#waiters.filter((w) => {
          if (!w.re.test(line)) return true;
          w.resolve(line);
          return false;
        });
      }
    }
  }

  /**
   * Waits for a log line matching `re` (already seen lines count); fails after `ms`, or at once
   * when the process exits without printing one.
   */
  waitFor(re: RegExp, ms = 20_000): Promise<string> {
    const seen = this.lines.find((l) => re.test(l));
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      let settled = false;
      const fail = (why: string) => {
        if (settled) return;
        settled = true;
        this.#waiters = this.#waiters.filter((w) => w.re !== re || w.resolve !== done);
        reject(new Error(`${why} ${re}; last lines:\n${this.lines.slice(-15).join("\n")}`));
      };
      const t = setTimeout(() => fail("timed out waiting for"), ms);
      const done = (l: string) => {
        if (settled) return;
        settled = true;
        clearTimeout(t);
        resolve(l);
      };
      this.#waiters.push({ re, resolve: done });
      this.#output.then(async () => {
        const code = (await this.exited).code;
        clearTimeout(t);
        fail(`exited (code ${code}) before printing`);
      });
    });
  }

  /** Settles once the process has exited and all its output is in `lines`; its status. */
  async ended(): Promise<Deno.CommandStatus> {
    await this.#output;
    return await this.exited;
  }

  /** Counts log lines matching `re` seen so far. */
  count(re: RegExp): number {
    return this.lines.filter((l) => re.test(l)).length;
  }

  /** Sends a signal and waits for the exit. */
  async stop(signal: Deno.Signal = "SIGTERM"): Promise<Deno.CommandStatus> {
    try {
      this.child.kill(signal);
    } catch { /* already gone */ }
    return await this.exited;
  }
}

/** The cloud node an agent's control stream is on, from its latest "control stream up" line. */
export function agentNode(agent: Proc): string | null {
  const up = agent.lines.filter((l) => l.includes('"control stream up"')).at(-1);
  return up ? (JSON.parse(up).node as string) : null;
}

/**
 * Waits until the agent's stream is up on `node` after `sinceMs` (epoch); resolves with the
 * time of that log line (the agent's own clock).
 */
export async function agentUpOn(
  agent: Proc,
  node: string,
  sinceMs: number,
  ms = 60_000,
): Promise<number> {
  const deadline = Date.now() + ms;
  for (;;) {
    const up = agent.lines.filter((l) => l.includes('"control stream up"')).at(-1);
    const j = up ? JSON.parse(up) : null;
    if (j && j.node === node && Number(j.time) >= sinceMs) return Number(j.time);
    if (Date.now() > deadline) throw new Error(`agent not up on ${node} within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Runs a connector command to completion. */
export async function run(
  args: string[],
  env: Record<string, string> = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", MAIN, ...args],
    env: { NO_COLOR: "1", ...env },
    stdin: "null",
  }).output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

/** A TCP echo target on 127.0.0.1 (half-close aware). */
export async function echoServer(): Promise<
  { port: number; accepted: () => number; close(): Promise<void> }
> {
  let accepted = 0;
  const socks = new Set<net.Socket>();
  const server = net.createServer({ allowHalfOpen: true }, (s) => {
    accepted++;
    socks.add(s);
    s.on("close", () => socks.delete(s));
    s.on("error", () => {});
    s.pipe(s);
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  return {
    port: (server.address() as net.AddressInfo).port,
    accepted: () => accepted,
    close: () =>
      new Promise<void>((r) => {
        for (const s of socks) s.destroy();
        server.close(() => r());
      }),
  };
}

/** What `cloud admin quickstart --json` prints. */
export interface Quickstart {
  tenantId: string;
  siteId: string;
  userId: string;
  apiToken: string;
  enrollmentToken: string;
  device: {
    deviceId: string;
    host: string;
    ports: number[];
    loopbackIp: string;
    handles: Record<string, string>;
  };
}

/** The listening ports of a test cloud node. */
export interface NodePorts {
  http: number;
  control: number;
  data: number;
  rtsp: number;
  internal: number;
  metrics: number | null;
}

/** A running cloud with helpers to drive it. */
export class Stack {
  readonly dir: string;
  cloud!: Proc;
  ports!: NodePorts;
  /** This node's name. */
  node = "node-1";
  readonly agents: Proc[] = [];
  #cleanup: (() => Promise<unknown>)[] = [];

  private constructor(dir: string) {
    this.dir = dir;
  }

  /** Extra flags for `connector cloud` (e.g. a short --proxy-timeout). */
  cloudArgs: string[] = [];
  /**
   * Extra environment of `connector cloud` (e.g. the test clock's offset file; the admin key
   * comes from NC_ADMIN_API_KEY, which this can override).
   */
  cloudEnv: Record<string, string> = {};
  /** A command the cloud runs under (`["prlimit", "--fsize=…", "--"]`); none by default. */
  cloudPrefix: string[] = [];
  /**
   * The deno executable agents run on (default this one's). The bench gives the agent a copy of
   * its own, as a site PC's agent has: nothing else maps its pages (agent/page_out.ts).
   */
  agentExecutable: string = Deno.execPath();

  /** The cloud's and the admin CLI's store (NC_STORE): the data dir's SQLite unless set. */
  store: string | null = null;

  /** The environment of the cloud and admin processes. */
  get #env(): Record<string, string> {
    return this.store ? { NC_STORE: this.store } : {};
  }

  /** A FerretDB this stack started for itself (NC_TEST_STORE=ferretdb), stopped last. */
  #ferret: FerretDb | null = null;

  /**
   * Starts a cloud in a fresh temp directory; `store` is a `--store` URL such as the one
   * `startFerretDb()` returns (default: the embedded SQLite in the data directory, or, with
   * NC_TEST_STORE=ferretdb in the environment, a FerretDB of its own — to run any e2e test on
   * the MongoDB store). With `joining`, the new node joins that node's cloud the way README's
   * "Several cloud nodes" says: the CA files and the cloud secret copied, and the same store (its
   * `--store` URL, or a link to its SQLite file).
   */
  static async start(
    opts: {
      cloudArgs?: string[];
      store?: string;
      cloudEnv?: Record<string, string>;
      /** Runs the cloud under a command (see `Stack.cloudPrefix`). */
      cloudPrefix?: string[];
      joining?: Stack;
      node?: string;
      /**
       * With `joining`: false gives this node the internal CA certificate only (no key) and a
       * node certificate from `admin node-cert` run on the joined node.
       */
      internalCaKey?: boolean;
    } = {},
  ): Promise<Stack> {
    const s = new Stack(await Deno.makeTempDir({ prefix: "nc-e2e-" }));
    s.cloudArgs = opts.cloudArgs ?? [];
    s.cloudEnv = opts.cloudEnv ?? {};
    s.cloudPrefix = opts.cloudPrefix ?? [];
    if (opts.node) s.node = opts.node;
    s.store = opts.store ?? opts.joining?.store ?? null;
    if (!s.store && !opts.joining && Deno.env.get("NC_TEST_STORE") === "ferretdb") {
      s.#ferret = await startFerretDb();
      s.store = s.#ferret.url;
    }
    try {
      if (opts.joining) await s.#join(opts.joining, opts.internalCaKey ?? true);
      await s.startCloud();
    } catch (e) {
      await s.#ferret?.stop();
      throw e;
    }
    return s;
  }

  async #join(first: Stack, internalCaKey: boolean): Promise<void> {
    const dd = this.dataDir;
    await Deno.mkdir(`${dd}/ca`, { recursive: true, mode: 0o700 });
    // The CA files shared (README "Several cloud nodes"); each node issues its own leaves.
    for (const f of internalCaKey ? ["ca/agent-ca", "ca/internal-ca"] : ["ca/agent-ca"]) {
      await Deno.copyFile(`${first.dataDir}/${f}.pem`, `${dd}/${f}.pem`);
      await Deno.copyFile(`${first.dataDir}/${f}.key`, `${dd}/${f}.key`);
      await Deno.chmod(`${dd}/${f}.key`, 0o600);
    }
    if (!internalCaKey) {
      // README: the node's certificate issued on the first node, the internal CA's certificate.
      await first.admin("node-cert", "--node", this.node, "--out", `${dd}/tls`);
      await Deno.rename(`${dd}/tls/internal-ca.pem`, `${dd}/ca/internal-ca.pem`);
    }
    await Deno.copyFile(`${first.dataDir}/cloud-secret.key`, `${dd}/cloud-secret.key`);
    await Deno.chmod(`${dd}/cloud-secret.key`, 0o600);
    // Two processes on one SQLite WAL database when there is no store server.
    if (!this.store) await Deno.symlink(`${first.dataDir}/connector.db`, `${dd}/connector.db`);
  }

  /** The cloud's data directory. */
  get dataDir(): string {
    return `${this.dir}/cloud`;
  }

  /** The cloud's base URL. */
  get url(): string {
    return `http://127.0.0.1:${this.ports.http}`;
  }

  /**
   * (Re)starts the cloud process, on the same ports when it ran before (agents enrolled with it
   * dial them again). The first start takes ports below the kernel's ephemeral range
   * (`restartablePorts`): freed during a restart, a port from that range could be taken by any
   * test running in parallel. A start refused with "Address already in use" tries again: a first
   * start on other ports, a restart on the same ones once the connection holding one has gone.
   */
  async startCloud(): Promise<void> {
    const restart = this.ports !== undefined;
    for (let attempt = 1;; attempt++) {
      const [http, control, data, rtsp, internal] = this.ports
        ? [
          this.ports.http,
          this.ports.control,
          this.ports.data,
          this.ports.rtsp,
          this.ports.internal,
        ]
        : restartablePorts(5);
      this.cloud = new Proc(
        [
          "cloud",
          "--node",
          this.node,
          "--data-dir",
          this.dataDir,
          "--http",
          `127.0.0.1:${http}`,
          "--control",
          `127.0.0.1:${control}`,
          "--data",
          `127.0.0.1:${data}`,
          "--rtsp",
          `127.0.0.1:${rtsp}`,
          "--internal",
          `127.0.0.1:${internal}`,
          "--control-hostnames",
          "127.0.0.1,localhost",
          "--log-format",
          "json",
          ...this.cloudArgs,
        ],
        { NC_ADMIN_API_KEY: TEST_ADMIN_KEY, ...this.#env, ...this.cloudEnv },
        this.cloudPrefix,
      );
      let line: string;
      try {
        line = await this.cloud.waitFor(/"cloud ready"/, 30_000);
      } catch (e) {
        const inUse = this.cloud.lines.some((l) => /already in use|AddrInUse|EADDRINUSE/i.test(l));
        if (!inUse || attempt >= (restart ? 20 : 5)) throw e;
        await this.cloud.stop("SIGKILL");
        if (restart) await new Promise((r) => setTimeout(r, 500));
        continue;
      }
      const ready = JSON.parse(line);
      this.ports = {
        http: ready.http,
        control: ready.control,
        data: ready.data,
        rtsp: ready.rtsp,
        internal: ready.internal,
        metrics: ready.metrics,
      };
      return;
    }
  }

  /** Runs `connector cloud admin ...args --json` against this cloud's data directory. */
  async admin<T = Record<string, unknown>>(...args: string[]): Promise<T> {
    const r = await run(
      ["cloud", "admin", ...args, "--data-dir", this.dataDir, "--json"],
      this.#env,
    );
    if (r.code !== 0) throw new Error(`admin ${args.join(" ")} failed (${r.code}): ${r.stderr}`);
    return JSON.parse(r.stdout) as T;
  }

  #tenantNames = new Map<string, number>();

  /** Has the cloud hold the quickstart device's own credentials (an admin's PUT, must be 200). */
  async holdCredentials(
    q: Quickstart,
    creds: { username: string; password: string },
  ): Promise<void> {
    const r = await fetch(
      `${this.url}/api/sites/${q.siteId}/devices/${q.device.deviceId}/credentials`,
      {
        method: "PUT",
        headers: { authorization: `Bearer ${q.apiToken}`, "content-type": "application/json" },
        body: JSON.stringify(creds),
      },
    );
    const text = await r.text();
    if (r.status !== 200) throw new Error(`holding the device's credentials: ${r.status} ${text}`);
  }

  /**
   * Adds a camera at `host` to the quickstart's site (its web port `webPort` and RTSP on 554),
   * with the cloud holding admin:12345 for it (the fake camera's): its RTSP handle.
   */
  async addCamera(q: Quickstart, host: string, webPort: number): Promise<string> {
    const added = await this.api("POST", `/api/sites/${q.siteId}/devices`, q.apiToken, {
      host,
      ports: [webPort, 554],
      protocols: { 554: "rtsp" },
    });
    if (added.status !== 201) {
      throw new Error(
        `adding the camera at ${host}: ${added.status} ${JSON.stringify(added.json)}`,
      );
    }
    const held = await this.api(
      "PUT",
      `/api/sites/${q.siteId}/devices/${added.json.id}/credentials`,
      q.apiToken,
      { username: "admin", password: "12345" },
    );
    if (held.status !== 200) {
      throw new Error(
        `holding the camera's credentials: ${held.status} ${JSON.stringify(held.json)}`,
      );
    }
    return (added.json.handles as Record<string, string>)["554"];
  }

  /**
   * A new tenant + site + admin user + API token + one device on the given ports + join token.
   * quickstart adds to an existing tenant of the same name, so a repeated name here gets a
   * suffix (" 2", " 3") to keep one tenant per call.
   */
  quickstart(ports: number[], name = "Demo"): Promise<Quickstart> {
    const n = (this.#tenantNames.get(name) ?? 0) + 1;
    this.#tenantNames.set(name, n);
    return this.admin<Quickstart>(
      "quickstart",
      "--tenant",
      n === 1 ? name : `${name} ${n}`,
      "--email",
      `${name.toLowerCase()}-${crypto.randomUUID().slice(0, 8)}@example.com`,
      "--ports",
      ports.join(","),
    );
  }

  /** Creates a user who can sign in with a password; returns the credentials. */
  async addUser(
    tenantId: string,
    role = "admin",
  ): Promise<{ userId: string; email: string; password: string }> {
    const email = `user-${crypto.randomUUID().slice(0, 8)}@example.com`;
    const password = `pw-${crypto.randomUUID()}`;
    const child = new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        MAIN,
        "cloud",
        "admin",
        "user",
        "create",
        "--tenant",
        tenantId,
        "--email",
        email,
        "--role",
        role,
        "--password-stdin",
        "--data-dir",
        this.dataDir,
        "--json",
      ],
      env: { NO_COLOR: "1", ...this.#env },
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const w = child.stdin.getWriter();
    await w.write(new TextEncoder().encode(password + "\n"));
    await w.close();
    const out = await child.output();
    if (!out.success) {
      throw new Error(`user create failed: ${new TextDecoder().decode(out.stderr)}`);
    }
    const r = JSON.parse(new TextDecoder().decode(out.stdout));
    return { userId: r.userId, email, password };
  }

  /** Signs in over the API; returns the session cookie pair (`nc_session=…`). */
  async signIn(email: string, password: string): Promise<string> {
    return (await this.session(email, password)).cookie;
  }

  /** Signs in; the session cookie (`name=value`) and its antiforgery token, for API calls. */
  async session(email: string, password: string): Promise<{ cookie: string; csrf: string }> {
    const res = await fetch(`${this.url}/api/auth/login`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ email, password }),
    });
    const body = await res.json().catch(() => ({}));
    if (res.status !== 200) throw new Error(`sign-in failed: ${res.status}`);
    return {
      cookie: (res.headers.get("set-cookie") ?? "").split(";")[0],
      csrf: body.csrfToken as string,
    };
  }

  /** Enrolls an agent state directory with a join token. */
  async enroll(token: string, name = `agent-${this.agents.length + 1}`) {
    const state = `${this.dir}/${name}`;
    const r = await run(["agent", "enroll", "--cloud", this.url, "--state", state], {
      NC_ENROLL_TOKEN: token,
    });
    return { ...r, state };
  }

  /**
   * Starts `connector agent run` on a state directory and waits until it is connected (for at
   * most `upWithinMs`: many agents booting at once on a loaded machine need a longer bound).
   */
  async runAgent(
    state: string,
    waitUp = true,
    env: Record<string, string> = {},
    upWithinMs = 20_000,
  ): Promise<Proc> {
    const p = new Proc(
      ["agent", "run", "--state", state, "--log-format", "json"],
      env,
      [],
      this.agentExecutable,
    );
    this.agents.push(p);
    if (waitUp) await p.waitFor(/"control stream up"/, upWithinMs);
    return p;
  }

  /**
   * Enrolls and runs one agent with the quickstart's token and its health endpoint on; returns
   * the agent and the endpoint's port (for /healthz and the agent's /metrics).
   */
  async agentWithHealth(q: Quickstart): Promise<{ agent: Proc; health: number }> {
    const e = await this.enroll(q.enrollmentToken);
    if (e.code !== 0) throw new Error(`enroll failed: ${e.stderr}`);
    const agent = await this.runAgent(e.state, true, { NC_HEALTH_LISTEN: "127.0.0.1:0" });
    const health = JSON.parse(await agent.waitFor(/"health endpoint listening"/)).port as number;
    return { agent, health };
  }

  /** A fresh one-shot enrollment token for the quickstart's site (`admin enroll-token`). */
  async enrollmentToken(q: Quickstart): Promise<string> {
    const r = await this.admin<{ token: string }>(
      "enroll-token",
      "--tenant",
      q.tenantId,
      "--site",
      q.siteId,
    );
    return r.token;
  }

  /** Enrolls and runs one agent with the quickstart's token. */
  async agentFor(q: Quickstart): Promise<Proc> {
    const e = await this.enroll(q.enrollmentToken);
    if (e.code !== 0) throw new Error(`enroll failed: ${e.stderr}`);
    return await this.runAgent(e.state);
  }

  /**
   * A JSON call to the API with a bearer token (`nt_…`): the status and the parsed body (`{}`
   * when empty), which a test reads as the API documents it.
   */
  async api(method: string, path: string, token: string, body?: unknown) {
    const r = await fetch(`${this.url}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${token}`,
        ...(body === undefined ? {} : { "content-type": "application/json" }),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await r.text();
    // deno-lint-ignore no-explicit-any
    return { status: r.status, json: (text ? JSON.parse(text) : {}) as any };
  }

  /**
   * A JSON API call as a signed-in user (their session cookie and CSRF token, from `session`),
   * as that user's browser makes it: status and parsed body.
   */
  async apiAs(
    session: { cookie: string; csrf: string },
    method: string,
    path: string,
    body?: unknown,
  ) {
    const r = await fetch(`${this.url}${path}`, {
      method,
      headers: {
        cookie: session.cookie,
        "x-csrf-token": session.csrf,
        ...(body === undefined ? {} : { "content-type": "application/json" }),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await r.text();
    // deno-lint-ignore no-explicit-any
    return { status: r.status, json: (text ? JSON.parse(text) : {}) as any };
  }

  /** Opens a raw WebSocket tunnel; resolves when open or rejects with status and message. */
  openTunnel(
    handle: string,
    token?: string,
    protocols?: string[],
    onMessage?: (m: Uint8Array) => void,
  ): Promise<WebSocket> {
    const ws = new WebSocket(`ws://127.0.0.1:${this.ports.http}/api/tunnel/${handle}`, protocols, {
      headers: token ? { authorization: `Bearer ${token}` } : {},
      perMessageDeflate: false,
    });
    // A device that talks first can send in the same packet as the upgrade response: listen
    // from the start, not after the caller's await.
    if (onMessage) ws.on("message", onMessage);
    return new Promise((resolve, reject) => {
      ws.once("open", () => resolve(ws));
      ws.once("unexpected-response", (_req, res) => {
        let body = "";
        res.on("data", (c: Uint8Array) => (body += new TextDecoder().decode(c)));
        res.on("end", () => reject(new TunnelRefused(res.statusCode ?? 0, body)));
      });
      ws.once("error", (e) => reject(e));
    });
  }

  /**
   * The common end-to-end setup in one call: a cloud, a TCP echo target, a tenant whose one
   * device is that target, and a running agent; everything is stopped after `fn`. `runAgent`
   * starts the enrolled agent another way (other settings, under a command); what it returns is
   * stopped with the stack when it is in `stack.agents`.
   */
  static async withEchoSite<T>(
    fn: (
      w: {
        stack: Stack;
        echo: Awaited<ReturnType<typeof echoServer>>;
        q: Quickstart;
        agent: Proc;
        handle: string;
      },
    ) => Promise<T>,
    opts: { store?: string; runAgent?: (stack: Stack, state: string) => Promise<Proc> } = {},
  ): Promise<T> {
    const stack = await Stack.start({ store: opts.store });
    const echo = await echoServer();
    stack.defer(echo.close);
    try {
      const q = await stack.quickstart([echo.port]);
      const e = await stack.enroll(q.enrollmentToken);
      if (e.code !== 0) throw new Error(`enroll failed: ${e.stderr}`);
      const agent = await (opts.runAgent ?? ((s, state) => s.runAgent(state)))(stack, e.state);
      return await fn({ stack, echo, q, agent, handle: q.device.handles[echo.port] });
    } finally {
      await stack.stop();
    }
  }

  /** Opens a CLI session (`ops_…`) on the quickstart's site with its API token. */
  async cliSession(q: Quickstart): Promise<{ id: string; token: string }> {
    const res = await fetch(`${this.url}/api/cli/sessions`, {
      method: "POST",
      headers: { authorization: `Bearer ${q.apiToken}`, "content-type": "application/json" },
      body: JSON.stringify({ siteIds: [q.siteId] }),
    });
    if (res.status !== 201 && res.status !== 200) {
      throw new Error(`CLI session failed: ${res.status} ${await res.text()}`);
    }
    return await res.json();
  }

  /** Registers something to close at stop. */
  defer(fn: () => Promise<unknown>): void {
    this.#cleanup.push(fn);
  }

  /** Stops every process and removes the temp directory. */
  async stop(): Promise<void> {
    for (const fn of this.#cleanup.reverse()) await fn().catch(() => {});
    for (const a of this.agents) await a.stop("SIGKILL");
    await this.cloud.stop("SIGKILL");
    await this.#ferret?.stop();
    await Deno.remove(this.dir, { recursive: true }).catch(() => {});
  }
}

/** A tunnel refused before the upgrade, with the HTTP status and the JSON body. */
export class TunnelRefused extends Error {
  /** The HTTP status. */
  readonly status: number;
  /** The parsed `{error, message}` body. */
  readonly body: { error?: string; message?: string };
  /** Creates the error. */
  constructor(status: number, text: string) {
    super(`tunnel refused: ${status} ${text}`);
    this.status = status;
    try {
      this.body = JSON.parse(text);
    } catch {
      this.body = { message: text };
    }
  }
}

/** Sends `data` through an open tunnel, half-closes, and collects everything that comes back. */
export function echoThrough(
  ws: WebSocket,
  data: Uint8Array,
  chunk = 64 << 10,
): Promise<{ received: Uint8Array; code: number; reason: string }> {
  return new Promise((resolve, reject) => {
    const parts: Uint8Array[] = [];
    let total = 0;
    ws.on("message", (m: Uint8Array) => {
      parts.push(new Uint8Array(m));
      total += m.byteLength;
    });
    ws.on("close", (code: number, reason: Uint8Array) => {
      const out = new Uint8Array(total);
      let off = 0;
      for (const p of parts) {
        out.set(p, off);
        off += p.byteLength;
      }
      resolve({ received: out, code, reason: new TextDecoder().decode(reason) });
    });
    ws.on("error", reject);
    let off = 0;
    const pump = () => {
      while (off < data.byteLength) {
        const slice = data.subarray(off, off + chunk);
        off += slice.byteLength;
        if (ws.bufferedAmount > 4 << 20) {
          ws.send(slice, { binary: true }, () => pump());
          return;
        }
        ws.send(slice, { binary: true });
      }
      ws.send(new Uint8Array(0), { binary: true }); // half-close
    };
    pump();
  });
}

/**
 * A tunnel through `entry` to an echo device that carries 4 KiB every 100 ms until `finish()`,
 * which waits for the last echo and gives the hashes of what went and what came back.
 */
export async function steadyTunnel(entry: Stack, handle: string, token: string) {
  const sent: Uint8Array[] = [];
  const got: Uint8Array[] = [];
  const ws = await entry.openTunnel(handle, token, undefined, (m) => got.push(new Uint8Array(m)));
  let pumping = true;
  const pump = (async () => {
    while (pumping) {
      const chunk = randomBytes(4096);
      sent.push(chunk);
      ws.send(chunk);
      await new Promise((r) => setTimeout(r, 100));
    }
  })();
  const cat = (cs: Uint8Array[]) => {
    const out = new Uint8Array(cs.reduce((n, c) => n + c.length, 0));
    let o = 0;
    for (const c of cs) (out.set(c, o), o += c.length);
    return out;
  };
  return {
    /** Stops sending, waits for the last echo; the hashes of what went and what came back. */
    async finish(): Promise<{ sent: string; got: string; bytes: number }> {
      pumping = false;
      await pump;
      const total = sent.length * 4096;
      const end = Date.now() + 60_000;
      while (got.reduce((n, c) => n + c.length, 0) < total) {
        if (Date.now() > end) throw new Error("timed out waiting for the echo of every byte");
        await new Promise((r) => setTimeout(r, 200));
      }
      ws.close();
      return { sent: await sha256(cat(sent)), got: await sha256(cat(got)), bytes: total };
    },
  };
}

/** Sends `size` random bytes to a TCP echo at ip:port, half-closes, checks all came back. */
export async function echoVia(ip: string, port: number, size: number): Promise<boolean> {
  const data = randomBytes(size);
  const conn = await Deno.connect({ hostname: ip, port });
  const writing = (async () => {
    const w = conn.writable.getWriter();
    for (let i = 0; i < size; i += 65536) await w.write(data.subarray(i, i + 65536));
    await conn.closeWrite();
  })();
  const got = new Uint8Array(await new Response(conn.readable).arrayBuffer());
  await writing;
  try {
    conn.close();
  } catch { /* already closed */ }
  return (await sha256(got)) === (await sha256(data));
}

/** SHA-256 hex of bytes. */
export async function sha256(data: Uint8Array): Promise<string> {
  const d = new Uint8Array(await crypto.subtle.digest("SHA-256", data as Uint8Array<ArrayBuffer>));
  return Array.from(d, (b) => b.toString(16).padStart(2, "0")).join("");
}

/** Random bytes of any size (crypto.getRandomValues is limited to 64 KiB per call). */
export function randomBytes(n: number): Uint8Array {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i += 65536) {
    crypto.getRandomValues(out.subarray(i, Math.min(n, i + 65536)));
  }
  return out;
}

/**
 * Starts `tunnel open HANDLE --cloud CLOUD --listen 127.0.0.1:0` (then `extra`) with `env`, stopped
 * with the stack; resolves once it listens, with the port it took.
 */
export async function tunnelOpen(
  stack: Stack,
  handle: string,
  cloud: string,
  env: Record<string, string>,
  extra: string[] = [],
): Promise<{ proc: Proc; port: number }> {
  const proc = new Proc(
    ["tunnel", "open", handle, "--cloud", cloud, "--listen", "127.0.0.1:0", ...extra],
    env,
  );
  stack.defer(() => proc.stop("SIGKILL"));
  const line = await proc.waitFor(/listening.*127\.0\.0\.1:\d+/);
  return { proc, port: Number(/127\.0\.0\.1:(\d+)/.exec(line)?.[1]) };
}

/**
 * A loopback port nothing listens on (a data port as a site firewall that rejects leaves it), and
 * nothing will: it is below the kernel's ephemeral range, which every listener of the tests (bound
 * to port 0) takes its port from. A port taken from that range and closed again could be handed to
 * another test's listener a moment later, running in parallel — which then answered a test that
 * expected a refusal (early_data_test.ts met an echo server there once).
 */
export function closedPort(): number {
  let low = 32768;
  try {
    low = Number(Deno.readTextFileSync("/proc/sys/net/ipv4/ip_local_port_range").split(/\s+/)[0]) ||
      low;
  } catch { /* not Linux: the usual start of the range */ }
  const from = Math.max(1025, low - 12_000);
  for (let i = 0; i < 100; i++) {
    const port = from + Math.floor(Math.random() * (low - from));
    try {
      Deno.listen({ hostname: "127.0.0.1", port }).close();
      return port;
    } catch { /* in use: another */ }
  }
  throw new Error(`no free port between ${from} and ${low}`);
}
