/**
 * The newcomer test: README.md's "Getting started" command blocks, extracted from the file and run
 * as written, in order, in a fresh copy of the sources in a temporary directory; then the user
 * quickstart made signs in and sees the agent and the device those commands created. The
 * substitutions it makes (free ports, the tokens quickstart printed, an echo server for SSH) are
 * the ones README lists beside the blocks.
 */
import { assert, assertEquals, assertStringIncludes } from "../_fixtures/assert.ts";
import { echoServer } from "../_fixtures/stack.ts";

const ROOT = new URL("../../", import.meta.url).pathname;
const PASSWORD = "newcomer-password-1";

/** The shell lines of the ```sh blocks in README's "Getting started" section, comments dropped. */
async function readmeCommands(): Promise<string[]> {
  const readme = await Deno.readTextFile(`${ROOT}README.md`);
  const start = readme.indexOf("## Getting started");
  assert(start >= 0, "README has a Getting started section");
  const end = readme.indexOf("\n## ", start + 1);
  const section = readme.slice(start, end < 0 ? undefined : end);
  const lines: string[] = [];
  for (const m of section.matchAll(/```sh\n([\s\S]*?)```/g)) {
    for (const line of m[1].split("\n")) {
      const l = line.trim();
      if (l && !l.startsWith("#")) lines.push(l);
    }
  }
  return lines;
}

/** A command of the README running in the temp dir, its output collected. */
class Running {
  out = "";
  readonly child: Deno.ChildProcess;
  readonly done: Promise<Deno.CommandStatus>;
  constructor(words: string[], cwd: string, env: Record<string, string>, stdin?: string) {
    const [cmd, ...args] = words;
    this.child = new Deno.Command(cmd === "deno" ? Deno.execPath() : cmd, {
      args,
      cwd,
      env: { NO_COLOR: "1", ...env },
      stdin: stdin === undefined ? "null" : "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    if (stdin !== undefined) {
      const w = this.child.stdin.getWriter();
      w.write(new TextEncoder().encode(stdin)).then(() => w.close());
    }
    const collect = async (s: ReadableStream<Uint8Array>) => {
      for await (const chunk of s.pipeThrough(new TextDecoderStream())) this.out += chunk;
    };
    const collected = Promise.all([collect(this.child.stdout), collect(this.child.stderr)]);
    this.done = this.child.status.then(async (st) => (await collected, st));
  }

  /** Waits until the output matches `re` (or the process ends, which fails). */
  async waitFor(re: RegExp, ms = 60_000): Promise<RegExpMatchArray> {
    const until = Date.now() + ms;
    let ended = false;
    this.done.then(() => (ended = true));
    for (;;) {
      const m = this.out.match(re);
      if (m) return m;
      if (ended || Date.now() > until) {
        throw new Error(
          `no ${re} in the output${ended ? " (the process ended)" : ""}:\n${this.out}`,
        );
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

/** Every process whose working directory is `dir`: the ones this test started there. */
async function processesIn(dir: string): Promise<number[]> {
  const pids: number[] = [];
  for await (const e of Deno.readDir("/proc")) {
    if (!/^\d+$/.test(e.name)) continue;
    try {
      if ((await Deno.realPath(`/proc/${e.name}/cwd`)) === dir) pids.push(Number(e.name));
    } catch { /* gone or not ours */ }
  }
  return pids;
}

Deno.test("newcomer: README's Getting started blocks, run as written, end with a signed-in user who sees the agent and the device", async () => {
  const commands = await readmeCommands();
  const dir = await Deno.realPath(await Deno.makeTempDir({ prefix: "nc-newcomer-" }));
  // A fresh checkout: the sources and the Deno configuration, nothing else (no ./data).
  for (const f of ["deno.json", "deno.lock"]) await Deno.copyFile(`${ROOT}${f}`, `${dir}/${f}`);
  await new Deno.Command("cp", { args: ["-r", `${ROOT}src`, `${dir}/src`] }).output();
  const env = { NC_STATE_DIR: `${dir}/state` };
  const echo = await echoServer();
  const running: Running[] = [];
  let cloudUrl = "";
  const tokens: Record<string, string> = {};
  try {
    for (const line of commands) {
      let cmd = line
        .replaceAll("http://localhost:8080", cloudUrl || "http://localhost:8080")
        .replace(/\benr_…/, tokens.enr ?? "enr_…")
        .replace(/\bnt_…/, tokens.nt ?? "nt_…")
        .replace(/\bh-…/, tokens.handle ?? "h-…");
      // `echo SECRET | command`: the secret goes to the command's standard input.
      let stdin: string | undefined;
      const piped = /^echo (\S+) \| (.+)$/.exec(cmd);
      if (piped) [stdin, cmd] = [`${piped[1]}\n`, piped[2]];
      if (cmd === "deno task start") {
        cmd += " --http 127.0.0.1:0 --control 127.0.0.1:0 --data 127.0.0.1:0 --rtsp 127.0.0.1:0";
        const p = new Running(cmd.split(" "), dir, env);
        running.push(p);
        cloudUrl = (await p.waitFor(/web UI\s+(http:\/\/127\.0\.0\.1:\d+)\//))[1];
        assert(
          !/Warning|Ignored build scripts/.test(p.out),
          `no warning on the first command:\n${p.out}`,
        );
      } else if (/ cloud admin quickstart /.test(cmd)) {
        cmd = cmd.replace("--ports 22", `--ports ${echo.port}`);
        const p = new Running(cmd.split(" "), dir, env, `${PASSWORD}\n`);
        const st = await p.done;
        assertEquals(st.code, 0, p.out);
        tokens.enr = /enrollmentToken: (enr_\S+)/.exec(p.out)![1];
        tokens.nt = /apiToken: (nt_\S+)/.exec(p.out)![1];
        tokens.handle = new RegExp(`${echo.port}: (h-\\S+)`).exec(p.out)![1];
      } else if (/ agent run$/.test(cmd)) {
        const p = new Running(cmd.split(" "), dir, env);
        running.push(p);
        await p.waitFor(/control stream up/);
      } else if (/ tunnel open /.test(cmd)) {
        cmd = cmd.replace("127.0.0.1:2222", "127.0.0.1:0");
        const p = new Running(cmd.split(" "), dir, env, stdin);
        running.push(p);
        tokens.listen = (await p.waitFor(/listening on 127\.0\.0\.1:(\d+)/))[1];
      } else if (cmd.startsWith("ssh ")) {
        // An echo through the listener instead of an SSH login.
        const conn = await Deno.connect({ hostname: "127.0.0.1", port: Number(tokens.listen) });
        await conn.write(new TextEncoder().encode("hello through the tunnel"));
        const buf = new Uint8Array(64);
        let got = "";
        while (got.length < 23) {
          const n = await conn.read(buf);
          if (n === null) break;
          got += new TextDecoder().decode(buf.subarray(0, n));
        }
        conn.close();
        assertEquals(got, "hello through the tunnel");
      } else {
        const p = new Running(cmd.split(" "), dir, env, stdin);
        const st = await p.done;
        assertEquals(st.code, 0, `${cmd}\n${p.out}`);
      }
    }
    assert(tokens.listen, "the README's blocks opened a tunnel");

    // 5. The user signs in and sees the agent and the device.
    const login = await fetch(`${cloudUrl}/api/auth/login`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ email: "you@example.com", password: PASSWORD }),
    });
    assertEquals(login.status, 200, await login.clone().text());
    await login.body?.cancel();
    const cookie = login.headers.getSetCookie().map((c) => c.split(";")[0]).join("; ");
    const sites = await (await fetch(`${cloudUrl}/api/sites`, { headers: { cookie } })).json();
    const site = (sites.items ?? sites).find((s: { name: string }) => s.name === "Site 1");
    assert(site, `the user's tenant has "Site 1": ${JSON.stringify(sites)}`);
    const page = await (await fetch(`${cloudUrl}/sites/${site.id}`, { headers: { cookie } }))
      .text();
    assertStringIncludes(page, "127.0.0.1");
    assertStringIncludes(page, String(echo.port));
    const agents = await (await fetch(`${cloudUrl}/api/agents`, { headers: { cookie } })).json();
    const list = agents.items ?? agents;
    assertEquals(list.length, 1, JSON.stringify(agents));
    assertEquals(list[0].siteId, site.id);
    const home = await (await fetch(`${cloudUrl}/`, { headers: { cookie } })).text();
    assertStringIncludes(home, "Dashboard");
  } finally {
    for (const p of running.reverse()) {
      try {
        p.child.kill("SIGTERM");
      } catch { /* ended */ }
    }
    await Promise.all(running.map((p) => p.done));
    for (const pid of await processesIn(dir)) {
      try {
        Deno.kill(pid, "SIGTERM");
      } catch { /* gone */ }
    }
    await echo.close();
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
});
