/**
 * What the fuzz targets hold every answer of the cloud to: the HTTP statuses it documents (any
 * other, a 500 above all, is a finding) and what must never reach a client (stacks, parser
 * internals, runtime error names).
 * @module
 */
import type { Finding } from "./targets.ts";

/** HTTP statuses the cloud documents (anything else, 500 above all, is a finding). */
export const HTTP_OK = new Set([
  101,
  200,
  201,
  204,
  206,
  301,
  302,
  303,
  304,
  307,
  308,
  400,
  401,
  403,
  404,
  405,
  408,
  409,
  411,
  413,
  414,
  415,
  422,
  426,
  429,
  431,
  502,
  503,
  504,
]);
/** What must never reach a client: stacks, parser internals, runtime error names. */
export const LEAK = /\.ts:\d+|node:internal|ext:deno|URIError|TypeError|RangeError|HPE_[A-Z_]+/;

/** A finding when `said` shows internals ({@link LEAK}), with the text around them; else null. */
export function leakFinding(
  said: string,
  input: string,
  kind = "internals in an answer",
): Finding | null {
  const leak = LEAK.exec(said);
  if (!leak) return null;
  return { kind, detail: said.slice(Math.max(0, leak.index - 100), leak.index + 100), input };
}
