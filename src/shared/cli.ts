/**
 * Command-line plumbing shared by the roles: parsing flags with `node:util` parseArgs, mapping
 * flags and environment variables onto a zod schema, and failing at start with a message that
 * names the field and what is expected — never a stack trace.
 * @module
 */
import { parseArgs, type ParseArgsConfig } from "node:util";
import { z } from "zod";

/** Exit code for bad usage or configuration. */
export const EXIT_USAGE = 2;

/** A usage or configuration problem, printed as one clear line and exit code 2. */
export class UsageError extends Error {
  /** Creates a usage error with a message for the user. */
  constructor(message: string) {
    super(message);
    this.name = "UsageError";
  }
}

/** Option definitions for parseArgs plus the env var and help text of each. */
export interface OptionSpec {
  type: "string" | "boolean";
  /** Environment variable that sets the same field. */
  env?: string;
  /** One line for --help. */
  help: string;
  /** Placeholder shown in --help, e.g. "DIR". */
  arg?: string;
  /** Default shown in --help. */
  default?: string;
  short?: string;
  multiple?: boolean;
}

/** Parses argv against the specs; unknown flags are a UsageError. Env fills what flags omit. */
export function parseFlags(
  argv: string[],
  specs: Record<string, OptionSpec>,
  env: Record<string, string | undefined> = Deno.env.toObject(),
): { values: Record<string, string | boolean | string[] | undefined>; positionals: string[] } {
  const options: ParseArgsConfig["options"] = {
    help: { type: "boolean", short: "h" },
    version: { type: "boolean", short: "V" },
  };
  for (const [name, s] of Object.entries(specs)) {
    options[name] = {
      type: s.type,
      ...(s.short ? { short: s.short } : {}),
      ...(s.multiple ? { multiple: true } : {}),
    };
  }
  let parsed;
  try {
    parsed = parseArgs({ args: argv, options, allowPositionals: true, strict: true });
  } catch (e) {
    const message = (e as Error).message.replace(/\. To specify.*$/s, "");
    const unknown = /^Unknown option '(--?)([^']*)'$/.exec(message);
    if (!unknown) throw new UsageError(message);
    const near = unknown[1] === "--" ? nearestOption(unknown[2], Object.keys(options)) : null;
    throw new UsageError(`${message} (${near ? `did you mean --${near}? ` : ""}see --help)`);
  }
  const values = { ...parsed.values } as Record<string, string | boolean | string[] | undefined>;
  for (const [name, s] of Object.entries(specs)) {
    if (values[name] === undefined && s.env && env[s.env] !== undefined && env[s.env] !== "") {
      const raw = env[s.env]!;
      values[name] = s.type === "boolean" ? /^(1|true|yes|on)$/i.test(raw) : raw;
    }
  }
  return { values, positionals: parsed.positionals };
}

/**
 * Names people reach for from other tools, and the option each means here (used only when that
 * option exists in the command at hand).
 */
const OPTION_ALIASES: Record<string, string[]> = {
  listen: ["http"],
  bind: ["http", "listen"],
  port: ["http", "listen"],
  "data-directory": ["data-dir"],
  datadir: ["data-dir"],
  dir: ["data-dir", "state"],
  "state-dir": ["state"],
  url: ["cloud", "store"],
  server: ["cloud"],
  mongo: ["store"],
  mongodb: ["store"],
  database: ["store"],
  db: ["store"],
  verbose: ["log-level"],
  debug: ["log-level"],
  "log-file-path": ["log-file"],
  "token-stdin": ["token"],
  ca: ["ca-file"],
  cacert: ["ca-file"],
  "ca-cert": ["ca-file"],
};

/**
 * Edit distance between `a` and `b` (insertions, deletions, substitutions, and a swap of two
 * neighbours — the commonest typo — counting one each), capped at 3.
 */
function distance(a: string, b: string): number {
  if (Math.abs(a.length - b.length) > 2) return 3;
  const d = Array.from(
    { length: a.length + 1 },
    (_, i) => Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)),
  );
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) {
        d[i][j] = Math.min(d[i][j], d[i - 2][j - 2] + 1);
      }
    }
  }
  return Math.min(d[a.length][b.length], 3);
}

/**
 * The option of `known` an unknown `--name` most likely meant: a known alias, a spelling one or
 * two edits away (one for short names), or a name it begins or ends; null when none is close.
 */
export function nearestOption(name: string, known: string[]): string | null {
  const lower = name.toLowerCase().replace(/_/g, "-");
  const alias = OPTION_ALIASES[lower]?.find((o) => known.includes(o));
  if (alias) return alias;
  let best: string | null = null;
  let bestD = lower.length <= 4 ? 2 : 3;
  for (const k of known) {
    const d = distance(lower, k);
    if (d < bestD) [best, bestD] = [k, d];
  }
  if (best) return best;
  if (lower.length >= 4) {
    return known.find((k) => k.startsWith(lower) || lower.startsWith(k) && k.length >= 4) ?? null;
  }
  return null;
}

/** Validates parsed values with a zod schema; a failure names each field, its flag and env var. */
export function validateConfig<T extends z.ZodType>(
  schema: T,
  values: Record<string, unknown>,
  specs: Record<string, OptionSpec>,
): z.infer<T> {
  const r = schema.safeParse(values);
  if (r.success) return r.data;
  const lines = r.error.issues.map((i) => {
    const field = String(i.path[0] ?? "");
    const s = specs[field];
    const where = s ? `--${kebab(field)}${s.env ? ` / ${s.env}` : ""}` : field;
    // A flag left out is "required", not zod's "expected string, received undefined".
    const missing = i.code === "invalid_type" && i.path.length === 1 && values[field] === undefined;
    return `  ${where}: ${missing ? "required (see --help)" : i.message}`;
  });
  throw new UsageError(`invalid configuration:\n${lines.join("\n")}`);
}

function kebab(s: string): string {
  return s.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
}

/** Renders the options block of a --help text. */
export function renderOptions(specs: Record<string, OptionSpec>): string {
  const rows = Object.entries(specs).map(([name, s]) => {
    const flag = `--${name}${s.type === "string" ? ` ${s.arg ?? "VALUE"}` : ""}`;
    const extra = [s.env ? `env ${s.env}` : "", s.default ? `default ${s.default}` : ""]
      .filter(Boolean).join(", ");
    return [flag, `${s.help}${extra ? ` (${extra})` : ""}`];
  });
  rows.push(["-h, --help", "Show this help"], ["-V, --version", "Show the version"]);
  const w = Math.max(...rows.map((r) => r[0].length)) + 2;
  return rows.map(([a, b]) => `  ${a.padEnd(w)}${b}`).join("\n");
}

/** Parses `host:port` (IPv6 in brackets); port 0 allowed (pick a free one). */
export const listenAddress = z.string().transform((s, ctx) => {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:\[\]]*)):(\d{1,5})$/.exec(s);
  const port = m ? Number(m[3]) : NaN;
  if (!m || port > 65535) {
    ctx.addIssue({ code: "custom", message: `expected HOST:PORT (e.g. 0.0.0.0:8443), got "${s}"` });
    return z.NEVER;
  }
  return { hostname: m[1] ?? (m[2] || "0.0.0.0"), port };
});

/** A parsed listen address. */
export type ListenAddress = { hostname: string; port: number };

/** The --help of one subcommand: what it does, its usage line, its options and an example. */
export function commandHelp(h: {
  /** e.g. "connector agent enroll". */
  name: string;
  summary: string;
  usage: string;
  options: Record<string, OptionSpec>;
  example: string;
  notes?: string;
}): string {
  return `${h.name} — ${h.summary}

Usage:
  ${h.usage}
${h.notes ? `\n${h.notes}\n` : ""}
Options:
${renderOptions(h.options)}

Example:
  ${h.example.split("\n").join("\n  ")}
`;
}
