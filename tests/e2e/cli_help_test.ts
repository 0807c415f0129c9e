/**
 * Every subcommand has its own --help with an example (not the whole role's help), and a bad
 * NC_LOG_LEVEL names the environment variable as well as the flag.
 */
import { assert, assertEquals, assertStringIncludes } from "../_fixtures/assert.ts";
import { ANY_LOOPBACK_PORTS, Proc, run } from "../_fixtures/stack.ts";

Deno.test("each subcommand's --help is its own, with an example", async () => {
  for (
    const cmd of [
      ["agent", "enroll"],
      ["agent", "run"],
      ["agent", "claim"],
      ["tunnel", "open"],
      ["tunnel", "run"],
      ["tunnel", "status"],
    ]
  ) {
    const r = await run([...cmd, "--help"]);
    assertEquals(r.code, 0, r.stderr);
    assert(r.stdout.startsWith(`connector ${cmd.join(" ")} — `), r.stdout.slice(0, 80));
    assertStringIncludes(r.stdout, "Example:");
    assert(!r.stdout.includes("Service commands"), `${cmd.join(" ")}: the whole role's help`);
  }
});

Deno.test("an invalid NC_LOG_LEVEL names the variable", async () => {
  const r = await run(["agent", "run", "--state", "/nonexistent"], { NC_LOG_LEVEL: "loud" });
  assertEquals(r.code, 2);
  assertStringIncludes(r.stderr, "NC_LOG_LEVEL");
  assertStringIncludes(r.stderr, '"loud"');
});

Deno.test("every help's command list keeps its two columns apart", async () => {
  for (const cmd of [[], ["cloud"], ["cloud", "admin"], ["agent"], ["tunnel"]]) {
    const r = await run([...cmd, "--help"]);
    assertEquals(r.code, 0, r.stderr);
    // A row of a command list: two spaces, lower-case words, then the summary with a capital.
    // A name longer than its column ran into the summary ("user reset-passwordSet a user's…").
    const rows = r.stdout.split("\n")
      .filter((l) => /^ {2}[a-z][a-z-]*(?: [a-z][a-z-]*)* *[A-Z][a-z]/.test(l));
    assert(cmd.length < 2 || rows.length > 10, `${cmd.join(" ")}: ${rows.length} rows`);
    for (const row of rows) {
      assert(/^ {2}[a-z][a-z-]*(?: [a-z][a-z-]*)* {2,}[A-Z]/.test(row), `${cmd.join(" ")}: ${row}`);
    }
  }
});

Deno.test("a data directory that cannot be created names the setting to change", async () => {
  const dir = await Deno.makeTempDir({ prefix: "nc-datadir-" });
  try {
    // A file where a directory must go: mkdir fails as on a read-only file system.
    await Deno.writeTextFile(`${dir}/file`, "");
    const r = await run(["cloud", "--data-dir", `${dir}/file/data`, ...ANY_LOOPBACK_PORTS]);
    assertEquals(r.code, 1, r.stderr);
    assertStringIncludes(r.stderr, `cannot create the data directory ${dir}/file/data`);
    assertStringIncludes(r.stderr, "give --data-dir (NC_DATA_DIR) a directory this user can write");
    assert(!r.stderr.includes("    at "), "no stack trace");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a required flag left out says it is required, naming the flag", async () => {
  const dir = await Deno.makeTempDir({ prefix: "nc-required-" });
  try {
    for (const [cmd, flag] of [[["tenant", "create"], "--name"], [["backup"], "--out"]]) {
      const r = await run(["cloud", "admin", ...cmd as string[], "--data-dir", `${dir}/data`]);
      assertEquals(r.code, 2, r.stderr);
      assertStringIncludes(r.stderr, `${flag}: required (see --help)`);
      assert(!r.stderr.includes("received undefined"), r.stderr);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a mistyped or borrowed option name suggests the one it likely meant", async () => {
  for (
    const [args, want] of [
      [
        ["cloud", "--listen", "0.0.0.0:8080"],
        "Unknown option '--listen' (did you mean --http? see --help)",
      ],
      [["cloud", "--data-directory", "/tmp/x"], "(did you mean --data-dir? see --help)"],
      [["agent", "run", "--stat", "/tmp/x"], "(did you mean --state? see --help)"],
      [["tunnel", "run", "--cacert", "ca.pem"], "(did you mean --ca-file? see --help)"],
      [["cloud", "admin", "tenant", "create", "--nmae", "A"], "(did you mean --name? see --help)"],
      [["cloud", "--frobnicate"], "Unknown option '--frobnicate' (see --help)"],
    ] as const
  ) {
    const r = await run([...args]);
    assertEquals(r.code, 2, r.stderr);
    assertStringIncludes(r.stderr, want);
  }
});

Deno.test("a node whose public URL is plain http to the network warns that secrets would cross in clear", async () => {
  const dir = await Deno.makeTempDir({ prefix: "nc-plain-" });
  const cloud = new Proc([
    "cloud",
    "--data-dir",
    dir,
    "--public-url",
    "http://connector.example.com",
    ...ANY_LOOPBACK_PORTS,
  ]);
  try {
    const line = await cloud.waitFor(/the public URL is plain http/);
    assertStringIncludes(line, "put HTTPS in front of the HTTP port (install/Caddyfile)");
  } finally {
    await cloud.stop();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a node given only its public URL tells agents to dial that name; told to dial loopback, it warns", async () => {
  for (
    const [extra, endpoint, warned] of [
      [[], /"controlEndpoint":"connector\.example\.com:\d+"/, false],
      [["--control-hostnames", "localhost"], /"controlEndpoint":"localhost:\d+"/, true],
    ] as const
  ) {
    const dir = await Deno.makeTempDir({ prefix: "nc-control-" });
    const cloud = new Proc([
      "cloud",
      "--data-dir",
      dir,
      "--log-format",
      "json",
      "--public-url",
      "https://connector.example.com",
      ...extra,
      ...ANY_LOOPBACK_PORTS,
    ]);
    try {
      const ready = await cloud.waitFor(/"cloud ready"/);
      assert(endpoint.test(ready), ready);
      if (!warned) {
        const issued = cloud.lines.find((l) => l.includes("issued control server certificate"));
        assertStringIncludes(issued ?? "", '"hostnames":["connector.example.com","localhost"');
      }
      assertEquals(
        cloud.lines.some((l) =>
          l.includes("told to dial the control channel on their own machine")
        ),
        warned,
        cloud.lines.join("\n"),
      );
    } finally {
      await cloud.stop();
      await Deno.remove(dir, { recursive: true });
    }
  }
});

Deno.test("the cloud's first hint can be pasted as printed: started by npx (no deno on PATH), it says npx too", async () => {
  for (
    const [env, program] of [
      [{ npm_command: "exec" }, `npx -y deno@${Deno.version.deno} run -A `],
      [{ npm_command: "" }, "deno run -A "], // not npx, even when the suite itself runs under it
    ] as const
  ) {
    const dir = await Deno.makeTempDir({ prefix: "nc-hint-" });
    const cloud = new Proc(
      ["cloud", "--data-dir", dir, "--log-format", "plain", ...ANY_LOOPBACK_PORTS],
      env,
    );
    try {
      const next = await cloud.waitFor(/^Next: /);
      assert(
        next.startsWith(`Next: ${program}`) && next.includes("cloud admin quickstart --email"),
        next,
      );
    } finally {
      await cloud.stop();
      await Deno.remove(dir, { recursive: true });
    }
  }
});

Deno.test("the project's own tools refuse a mistyped option in one line, exit 2, and start nothing", async () => {
  for (
    const [tool, file, arg, words] of [
      ["bench", "bench/main.ts", "--onyl=bulk", "Unknown option '--onyl' (did you mean --only?)"],
      ["bench", "bench/main.ts", "--only=bulk,nope", "--only: no section nope; the sections: bulk"],
      [
        "fuzz",
        "tests/fuzz/main.ts",
        "--targets",
        "Unknown option '--targets' (did you mean --target?)",
      ],
      [
        "soak",
        "tests/soak/main.ts",
        "--minute",
        "Unknown option '--minute' (did you mean --minutes?)",
      ],
    ]
  ) {
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", new URL(`../../${file}`, import.meta.url).pathname, arg],
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).output();
    const err = new TextDecoder().decode(out.stderr).trim();
    assertEquals(out.code, 2, `${tool} ${arg}: ${err}`);
    assert(err.startsWith(`deno task ${tool}: `), err);
    assertStringIncludes(err, words);
    assertEquals(err.split("\n").length, 1, `one line, no stack trace: ${err}`);
  }
});
