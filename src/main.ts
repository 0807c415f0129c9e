/**
 * The role switch, and nothing else: `connector cloud | agent | tunnel`. Usage and configuration
 * errors print one line and exit 2; nothing else ever prints a stack trace to a user.
 * @module
 */
import "reflect-metadata";
import { UsageError } from "./shared/cli.ts";
import { VERSION } from "./shared/version.ts";

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
      return await (await import("./cloud/main.ts")).cloudMain(rest);
    case "agent":
      return await (await import("./agent/main.ts")).agentMain(rest);
    case "tunnel":
      return await (await import("./tunnel/main.ts")).tunnelMain(rest);
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
