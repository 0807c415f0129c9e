/**
 * The few assertions the tests use (JSR's @std/assert is unreachable here), on node:assert.
 * @module
 */
import nodeAssert from "node:assert/strict";

/** Asserts `cond` is truthy. */
export function assert(cond: unknown, msg?: string): asserts cond {
  nodeAssert.ok(cond, msg ?? "assertion failed");
}

/** Asserts deep equality. */
export function assertEquals<T>(actual: T, expected: T, msg?: string): void {
  if (msg === undefined) nodeAssert.deepStrictEqual(actual, expected);
  else nodeAssert.deepStrictEqual(actual, expected, msg);
}

/** Asserts `text` contains `part`. */
export function assertStringIncludes(text: string, part: string, msg?: string): void {
  nodeAssert.ok(
    text.includes(part),
    msg ?? `expected ${JSON.stringify(text)} to include ${JSON.stringify(part)}`,
  );
}

/** Asserts `fn` rejects; returns the error. */
export async function assertRejects(fn: () => Promise<unknown>, msg?: string): Promise<Error> {
  try {
    await fn();
  } catch (e) {
    return e as Error;
  }
  throw new nodeAssert.AssertionError({ message: msg ?? "expected a rejection" });
}

/** Asserts `fn` throws (an instance of `type`, when given); returns the error. */
export function assertThrows(
  fn: () => unknown,
  type?: new (...args: never[]) => Error,
  msg?: string,
): Error {
  try {
    fn();
  } catch (e) {
    if (type && !(e instanceof type)) {
      throw new nodeAssert.AssertionError({
        message: msg ??
          `expected ${type.name}, got ${(e as Error)?.name}: ${(e as Error)?.message}`,
      });
    }
    return e as Error;
  }
  throw new nodeAssert.AssertionError({ message: msg ?? "expected an exception" });
}

/** Asserts that `actual` matches `re`. */
export function assertMatch(actual: string, re: RegExp, msg?: string): void {
  if (!re.test(actual)) {
    throw new Error(msg ?? `expected ${JSON.stringify(actual.slice(0, 2000))} to match ${re}`);
  }
}
