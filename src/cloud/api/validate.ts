/**
 * Input validation at the edge: JSON bodies and query strings through zod, failures as 400
 * `{error: "bad_request", message: "<field>: <what is expected>"}`.
 * @module
 */
import type { Context } from "hono";
import type { z } from "zod";
import { AppError } from "../../shared/errors.ts";

function fail(issues: z.core.$ZodIssue[]): never {
  const i = issues[0];
  throw new AppError("bad_request", `${i.path.join(".") || "body"}: ${i.message}`);
}

/** Parses a JSON body with a zod schema; 400 naming the field otherwise. */
export async function jsonBody<T extends z.ZodType>(c: Context, schema: T): Promise<z.infer<T>> {
  let raw: unknown;
  try {
    raw = await c.req.json();
  } catch {
    throw new AppError("bad_request", "body must be JSON");
  }
  const r = schema.safeParse(raw);
  if (!r.success) fail(r.error.issues);
  return r.data;
}

/** Parses the query string with a zod schema; 400 naming the parameter otherwise. */
export function query<T extends z.ZodType>(c: Context, schema: T): z.infer<T> {
  const r = schema.safeParse(c.req.query());
  if (!r.success) fail(r.error.issues);
  return r.data;
}
