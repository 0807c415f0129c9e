/**
 * Logging for every role: pino, written synchronously to stderr (no worker transports), as JSON
 * lines for machines or as short plain lines for people, with secrets redacted by path so a
 * token never reaches a log even when a caller logs a whole request, and every field bounded in
 * size so a peer cannot flood the log through a value it controls.
 * @module
 */
import pino from "pino";
import { clipDeep } from "./clip.ts";
import { LogSink } from "./log_sink.ts";
import { LogFile } from "./log_file.ts";

/** The longest string a log line carries per field (longer ones are cut with a marker). */
export const LOG_CLIP_CHARS = 1024;

/** A logger (pino's). */
export type Logger = pino.Logger;

/** Log levels accepted by `--log-level`. */
export const LOG_LEVELS = ["trace", "debug", "info", "warn", "error", "fatal", "silent"] as const;
/** A log level. */
export type LogLevel = (typeof LOG_LEVELS)[number];
/** Output formats accepted by `--log-format`. */
export const LOG_FORMATS = ["plain", "json"] as const;
/** A log output format. */
export type LogFormat = (typeof LOG_FORMATS)[number];

/** Paths pino replaces with "[redacted]" wherever they appear. */
export const REDACT_PATHS = [
  "token",
  "*.token",
  "password",
  "*.password",
  "authorization",
  "*.authorization",
  "headers.authorization",
  "headers.cookie",
  "*.headers.authorization",
  "*.headers.cookie",
  'headers["x-license"]',
  'headers["x-api-key"]',
  'headers["x-admin-api-key"]',
  "keyPem",
  "*.keyPem",
  "ticket",
  "*.ticket",
];

const encoder = new TextEncoder();
const LEVEL_NAMES: Record<number, string> = {
  10: "TRACE",
  20: "DEBUG",
  30: "INFO",
  40: "WARN",
  50: "ERROR",
  60: "FATAL",
};

/** Formats one pino JSON line as `HH:MM:SS.mmm LEVEL msg key=value …`. */
export function formatPlain(line: string): string {
  let rec: Record<string, unknown>;
  try {
    rec = JSON.parse(line);
  } catch {
    return line;
  }
  const { time, level, msg, pid: _pid, hostname: _h, role: _r, ...rest } = rec;
  const t = typeof time === "number" ? new Date(time).toISOString().slice(11, 23) : "";
  const parts = Object.entries(rest).map(([k, v]) =>
    `${k}=${typeof v === "string" && !/\s/.test(v) ? v : JSON.stringify(v)}`
  );
  const lvl = (LEVEL_NAMES[level as number] ?? String(level)).padEnd(5);
  return `${t} ${lvl} ${msg ?? ""}${parts.length ? " " + parts.join(" ") : ""}\n`;
}

/** Creates the root logger of a role, writing to stderr (or to `file` when given). */
export function createLogger(
  opts: { role: string; level?: LogLevel; format?: LogFormat; file?: string },
): Logger {
  const format = opts.format ?? "plain";
  const out = opts.file ? LogFile.open(opts.file) : Deno.stderr;
  // A log that cannot be written (a full disk under --log-file) never stops the program.
  const sink = new LogSink(out, (lost, reason) => {
    const line = JSON.stringify({
      level: 40,
      time: Date.now(),
      role: opts.role,
      msg: "log lines lost: the log could not be written",
      lost,
      err: reason,
    }) + "\n";
    return format === "plain" ? formatPlain(line) : line;
  });
  const stream = {
    write(line: string) {
      sink.write(encoder.encode(format === "plain" ? formatPlain(line) : line));
    },
  };
  return pino(
    {
      level: opts.level ?? "info",
      base: { role: opts.role },
      redact: { paths: REDACT_PATHS, censor: "[redacted]" },
      timestamp: pino.stdTimeFunctions.epochTime,
      // Values a peer controls (hostnames, paths, messages quoting them) are bounded in size.
      formatters: { log: (o) => clipDeep(o, LOG_CLIP_CHARS) as Record<string, unknown> },
    },
    stream,
  );
}
