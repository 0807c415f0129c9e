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
    throw new UsageError((e as Error).message.replace(/\. To specify.*$/s, ""));
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
