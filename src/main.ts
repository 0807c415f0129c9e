/**
 * The role switch, and nothing else: `connector cloud | agent | tunnel`. Usage and configuration
 * errors print one line and exit 2; nothing else ever prints a stack trace to a user.
 *
 * Each role's module is imported by a specifier held in a variable, not a string literal: Deno
 * loads every statically visible import, dynamic ones too, when it starts a program, so literal
 * specifiers made `connector agent` hold the cloud's whole module graph (about 5 MiB of an idle
 * agent's RSS, README "Performance"). The `import type`s keep the role entry points type-checked;
 * `build/compile.ts` includes the role's module in each executable (`--include`).
 * @module
 */
import "reflect-metadata";
import { UsageError } from "./shared/cli.ts";
import { VERSION } from "./shared/version.ts";
import type { cloudMain } from "./cloud/main.ts";
import type { agentMain } from "./agent/main.ts";
import type { tunnelMain } from "./tunnel/main.ts";

/** Each role's module, relative to this file (what `build/compile.ts` includes per role). */
export const ROLE_MODULES = {
  cloud: "./cloud/main.ts",
  agent: "./agent/main.ts",
  tunnel: "./tunnel/main.ts",
} as const;

/** Imports a role's module; the specifier is a variable so Deno loads it only when asked. */
function load<T>(role: keyof typeof ROLE_MODULES): Promise<T> {
  const specifier: string = ROLE_MODULES[role];
  return import(specifier);
}

const HELP =
  `connector ${VERSION} — Nanodems Connector: reach cameras and TCP devices on private LANs

Usage:
  connector cloud  [options]   run the cloud (API, tunnels, agent listeners); 'cloud admin' manages it
  connector agent  <command>   the site agent: 'enroll' once, then 'run'
  connector tunnel <command>   the operator's tunnel CLI (nanodems-tunnel)

Each role has --help. Environment variables mirror the flags (NC_…).
`;

async function main(argv: string[]): Promise<number> {
  const [role, ...rest] = argv;
  switch (role) {
    case "cloud":
      return await (await load<{ cloudMain: typeof cloudMain }>("cloud")).cloudMain(rest);
    case "agent":
      return await (await load<{ agentMain: typeof agentMain }>("agent")).agentMain(rest);
    case "tunnel":
      return await (await load<{ tunnelMain: typeof tunnelMain }>("tunnel")).tunnelMain(rest);
    case "--version":
    case "-V":
      console.log(`connector ${VERSION}`);
      return 0;
    case undefined:
    case "--help":
    case "-h":
    case "help":
      console.log(HELP);
      return 0;
    default:
      throw new UsageError(`unknown role "${role}" (expected cloud, agent or tunnel)`);
  }
}

if (import.meta.main) {
  try {
    Deno.exit(await main(Deno.args));
  } catch (e) {
    if (e instanceof UsageError) {
      console.error(`error: ${e.message}`);
      Deno.exit(2);
    }
    console.error(`error: ${(e as Error).message ?? e}`);
    Deno.exit(1);
  }
}
