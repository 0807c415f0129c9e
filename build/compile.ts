/**
 * `deno task compile`: builds one executable per role (connector-cloud, connector-agent,
 * nanodems-tunnel) for each target into out/. `deno compile` needs a Deno runtime (denort) for
 * the target; where the Deno release site is unreachable, set DENORT_BIN to a local denort
 * binary (not the full deno binary). Without one it stops and says so.
 *
 * The agent and the tunnel CLI are also copied to out/downloads/ under the names the cloud's
 * download endpoint and installers use (connector-agent-linux-x86_64, …): start the cloud with
 * `--downloads-dir out/downloads` (or copy them to <data-dir>/downloads) to serve them.
 *
 * Usage: deno task compile [--target x86_64-unknown-linux-gnu,...]
 * @module
 */
import { parseArgs } from "node:util";
import { type DownloadKind, downloadName, PLATFORM_TARGETS } from "../src/shared/downloads.ts";

const TARGETS = Object.keys(PLATFORM_TARGETS);
const ROLES: { role: string; name: string; download?: DownloadKind; workers?: string[] }[] = [
  // Worker modules are loaded by URL at run time: deno compile carries them only when included.
  {
    role: "cloud",
    name: "connector-cloud",
    workers: ["src/cloud/store/sqlite_checkpoint_worker.ts"],
  },
  { role: "agent", name: "connector-agent", download: "agent" },
  { role: "tunnel", name: "nanodems-tunnel", download: "tunnel" },
];

const { values } = parseArgs({ options: { target: { type: "string" } } });
const targets = values.target ? values.target.split(",") : [Deno.build.target];
for (const t of targets) {
  if (!TARGETS.includes(t)) {
    console.error(`unknown target ${t}; one of ${TARGETS.join(", ")}`);
    Deno.exit(2);
  }
}
await Deno.mkdir("out/downloads", { recursive: true });
for (const target of targets) {
  for (const { role, name, download, workers = [] } of ROLES) {
    const output = `out/${target}/${name}${target.includes("windows") ? ".exe" : ""}`;
    console.error(`compiling ${name} for ${target} → ${output}`);
    const r = await new Deno.Command(Deno.execPath(), {
      args: [
        "compile",
        "-A",
        "--target",
        target,
        "--output",
        output,
        // The role's module: src/main.ts imports it by a variable (see ROLE_MODULES there), which
        // deno compile does not follow, so each executable carries its own role's code only.
        "--include",
        `src/${role}/main.ts`,
        ...workers.flatMap((w) => ["--include", w]),
        // Each executable starts in its role: `connector-agent run` = `connector agent run`.
        "src/main.ts",
        role,
      ],
      stdout: "inherit",
      stderr: "piped",
    }).output();
    if (!r.success) {
      const err = new TextDecoder().decode(r.stderr);
      // Only deno's message and its most specific cause: not the cause chain's repetitions or
      // the "Stack backtrace: 0: <unknown>" it appends.
      // deno-lint-ignore no-control-regex
      const plain = err.replace(/\x1b\[[0-9;]*m/g, "").split("\n").map((l) => l.trim());
      const first = plain.find((l) => l.startsWith("error:")) ?? plain[0];
      const causes = plain.filter((l) => /^\d+: /.test(l) && !/<unknown>/.test(l));
      const cause = causes.find((l) => /error sending request|denort/.test(l)) ?? causes.at(-1);
      console.error([first, cause?.replace(/^\d+: /, "  ")].filter(Boolean).join("\n"));
      if (!Deno.env.get("DENORT_BIN")) {
        console.error(
          "\ndeno compile needs the Deno runtime (denort) for this target and could not download it.\n" +
            "Set DENORT_BIN=/path/to/denort (a denort binary of Deno 2.9.6 for the target).",
        );
      }
      Deno.exit(1);
    }
    if (download) {
      const served = `out/downloads/${downloadName(download, PLATFORM_TARGETS[target])}`;
      await Deno.copyFile(output, served);
      console.error(`  served by the cloud as ${served}`);
    }
  }
}
