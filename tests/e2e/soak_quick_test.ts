// `deno task soak` end to end in about 45 s: real cloud, two tenants' agents, the whole mix of
// client operations (tunnels, proxy GETs, RTSP, revocations, cross-tenant refusals, CLI sessions,
// agent restarts with SIGTERM and SIGKILL). It must end with a passing verdict and zero unexpected
// outcomes. No timing is asserted.
import { assert, assertEquals } from "../_fixtures/assert.ts";

Deno.test("the soak runs for 45 s with a passing verdict and no unexpected outcome", async () => {
  const dir = await Deno.makeTempDir({ prefix: "nc-soak-" });
  try {
    const out = await new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        new URL("../soak/main.ts", import.meta.url).pathname,
        "--minutes",
        "0.75",
        "--sample-seconds",
        "5",
        "--seed",
        "11",
        "--out",
        `${dir}/soak.json`,
      ],
      stdout: "piped",
      stderr: "piped",
    }).output();
    const stdout = new TextDecoder().decode(out.stdout);
    const why = `${stdout.slice(-4000)}\n${new TextDecoder().decode(out.stderr).slice(-2000)}`;
    assertEquals(out.code, 0, why);
    assert(stdout.includes("VERDICT: PASS"), why);
    assert(
      /\[\s*\d+s load\s*\] cloud [\d.]+MiB\/\d+fd/.test(stdout),
      "one progress line per sample",
    );
    const report = JSON.parse(await Deno.readTextFile(`${dir}/soak.json`));
    assertEquals(report.verdict.pass, true, why);
    type Counts = { ok: number; refused: number; unexpected: number };
    const outcomes = report.outcomes as Record<string, Counts>;
    for (const [op, c] of Object.entries(outcomes)) assertEquals(c.unexpected, 0, `${op}: ${why}`);
    for (const op of ["tunnel", "proxy", "cli", "restart SIGTERM"]) {
      assert((outcomes[op]?.ok ?? 0) > 0, `${op} ran and succeeded: ${why}`);
    }
    assert(report.samples.length >= 3, "sampled during the load");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
