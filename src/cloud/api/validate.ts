/**
 * Input validation at the edge: JSON bodies and query strings through zod, failures as 400
 * `{error: "bad_request", message: "<field>: <what is expected>"}`.
 * @module
 */
import type { Context } from "hono";
import { z } from "zod";
import { AppError } from "../../shared/errors.ts";

/** The first issue as `<field>: <what is expected>` (a message that names its field kept as is). */
export function issueMessage(issues: z.core.$ZodIssue[]): string {
  const i = issues[0];
  const field = i.path.join(".") || "body";
  return i.message.startsWith(`${field}: `) ? i.message : `${field}: ${i.message}`;
}

function fail(issues: z.core.$ZodIssue[]): never {
  throw new AppError("bad_request", issueMessage(issues));
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

/**
 * Parses a JSON body that may be left out: an empty body is `{}`; anything else as
 * {@linkcode jsonBody}.
 */
export async function optionalJsonBody<T extends z.ZodType>(
  c: Context,
  schema: T,
): Promise<z.infer<T>> {
  const text = await c.req.text();
  let raw: unknown = {};
  if (text.trim()) {
    try {
      raw = JSON.parse(text);
    } catch {
      throw new AppError("bad_request", "body must be JSON");
    }
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

/** `?limit=&cursor=` of a list. */
export const pageQuery = z.object({
  limit: z.coerce.number().int().min(1).max(1000).default(100),
  cursor: z.coerce.number().int().min(0).default(0),
});

/**
 * One page of a list: `?limit=` (default 100, at most 1000) and `?cursor=` (from the previous
 * page's `next`), answered as `{items, next}` with `next` null on the last page.
 */
export function page<T>(c: Context, all: T[]): { items: T[]; next: number | null } {
  const { limit, cursor } = query(c, pageQuery);
  const items = all.slice(cursor, cursor + limit);
  return { items, next: cursor + limit < all.length ? cursor + limit : null };
}
