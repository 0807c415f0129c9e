/**
 * How this program was started, so that the commands it prints as hints ("next: …") can be
 * pasted back as they are: `deno run -A src/main.ts agent run` from a checkout,
 * `connector-agent run` from a compiled executable (which starts in its role), with the options
 * in use (`--data-dir`, `--state`) carried over. One place, so a later change to how secrets are
 * passed (a file instead of a flag) changes every hint at once.
 * @module
 */
import { relative } from "node:path";
import { fileURLToPath } from "node:url";

/** The roles of the one program. */
export type Role = "cloud" | "agent" | "tunnel";

/** What the process knows about how it was started (injectable for tests). */
export interface StartedAs {
  /** `Deno.execPath()`. */
  execPath: string;
  /** `Deno.mainModule`. */
  mainModule: string;
  /** The working directory the hint will be pasted into. */
  cwd: string;
  /**
   * The Deno version npx ran this process with (`npx -y deno@2.9.6 task start`, README's first
   * command on a machine with only Node and npm), where `deno` alone is not a command the
   * person's shell knows; absent otherwise.
   */
  npxDeno?: string;
}

/** Whether npm started this process (`npx …` / `npm exec …` set `npm_command=exec`). */
function underNpx(): boolean {
  try {
    return Deno.env.get("npm_command") === "exec";
  } catch {
    return false; // no permission to read the environment: not said
  }
}

function current(): StartedAs {
  return {
    execPath: Deno.execPath(),
    mainModule: Deno.mainModule,
    cwd: Deno.cwd(),
    ...(underNpx() ? { npxDeno: Deno.version.deno } : {}),
  };
}

/** Quotes one argument for a POSIX shell when it needs it. */
export function shellQuote(arg: string): string {
  return /^[A-Za-z0-9_@%+=:,./~-]+$/.test(arg) ? arg : `'${arg.replaceAll("'", `'\\''`)}'`;
}

/**
 * The words that start `role` the way this process was started: `deno run -A src/main.ts agent`
 * under Deno (path relative to the working directory; `npx -y deno@VERSION run -A …` when npx
 * started it), `connector-agent` for a compiled executable of that role.
 */
export function programFor(role: Role, startedAs: StartedAs = current()): string {
  const exe = startedAs.execPath.split(/[\\/]/).pop()!.replace(/\.exe$/i, "");
  if (exe === "deno" && startedAs.mainModule.startsWith("file:")) {
    const file = fileURLToPath(startedAs.mainModule);
    const rel = relative(startedAs.cwd, file).replaceAll("\\", "/");
    const main = rel.startsWith("..") ? file : rel;
    const deno = startedAs.npxDeno ? `npx -y deno@${startedAs.npxDeno}` : "deno";
    return `${deno} run -A ${shellQuote(main)} ${role}`;
  }
  // A compiled executable runs in the role it was built for (`connector-agent run`).
  return shellQuote(exe);
}

/**
 * How a secret (a token) is passed in a printed hint: on the command's standard input
 * (`echo SECRET | program … --flag -`), so it never shows in `ps` (secret_input.ts reads it). The
 * one place to change when hints should name a file instead.
 */
export function secretWords(flag: string, value: string): { prefix: string; words: string[] } {
  return { prefix: `echo ${shellQuote(value)} | `, words: [`--${flag}`, "-"] };
}

/**
 * A command line to print as a hint: the program as started, then `args`, then each option of
 * `options` that has a value (`--data-dir DIR`), then the secrets as {@linkcode secretWords}
 * renders them; everything shell-quoted.
 */
export function commandHint(
  role: Role,
  args: string[],
  options: Record<string, string | undefined> = {},
  startedAs: StartedAs = current(),
  secrets: Record<string, string> = {},
): string {
  const words = [programFor(role, startedAs), ...args.map(shellQuote)];
  for (const [name, value] of Object.entries(options)) {
    if (value !== undefined && value !== "") words.push(`--${name}`, shellQuote(value));
  }
  let prefix = "";
  for (const [flag, value] of Object.entries(secrets)) {
    const w = secretWords(flag, value);
    prefix += w.prefix;
    words.push(...w.words);
  }
  return prefix + words.join(" ");
}
