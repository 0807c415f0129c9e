/**
 * Secrets given to a command: every secret-taking flag `--X` also takes `--X-file FILE`, an
 * environment variable and standard input (`--X -`), because a value on the command line is
 * readable by every local user in `/proc/<pid>/cmdline` and `ps`. A value given on the command
 * line still works, with a one-line warning on stderr naming the safer forms.
 * @module
 */
import { UsageError } from "./cli.ts";

/** Where a secret may come from, for one flag. */
export interface SecretSource {
  /** The flag name without dashes, e.g. `token`. */
  flag: string;
  /** The flag's parsed value (flag or environment variable), if any. */
  value: string | undefined;
  /** The `--X-file` value (flag or environment variable), if any. */
  file: string | undefined;
  /** The environment variable that also sets the value (named in the warning). */
  env: string;
  /** The raw argv, to tell a value typed on the command line from one from the environment. */
  argv: string[];
}

/** Whether `--flag VALUE` or `--flag=VALUE` (with a value other than `-`) is on the argv. */
export function onCommandLine(argv: string[], flag: string): boolean {
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === "--") return false;
    if (a === `--${flag}`) return argv[i + 1] !== undefined && argv[i + 1] !== "-";
    if (a.startsWith(`--${flag}=`)) return a.slice(flag.length + 3) !== "-";
  }
  return false;
}

/** The one-line warning for a secret typed on the command line. */
export function commandLineWarning(flag: string, env: string): string {
  return `warning: --${flag} on the command line is visible to every local user (ps, /proc); ` +
    `use --${flag}-file FILE, ${env}=… or --${flag} - (standard input) instead`;
}

async function readStdin(): Promise<string> {
  return (await new Response(Deno.stdin.readable).text()).trim();
}

/**
 * The secret from its sources, in order: `--X -` (standard input), `--X VALUE` / the variable,
 * `--X-file FILE` (`-` is standard input too). Null when none is given. Warns (via `warn`) when
 * the value was typed on the command line.
 */
export async function readSecret(
  s: SecretSource,
  warn: (line: string) => void = (l) => console.error(l),
): Promise<string | null> {
  if (s.value === "-") return await readStdin() || null;
  if (s.value) {
    if (onCommandLine(s.argv, s.flag)) warn(commandLineWarning(s.flag, s.env));
    return s.value;
  }
  if (s.file) {
    if (s.file === "-") return await readStdin() || null;
    try {
      return (await Deno.readTextFile(s.file)).trim() || null;
    } catch (e) {
      throw new UsageError(`--${s.flag}-file ${s.file}: ${(e as Error).message}`);
    }
  }
  return null;
}
