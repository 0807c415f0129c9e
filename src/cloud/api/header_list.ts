/**
 * Comma-separated header values (`Connection`, `Upgrade`) read as RFC 9110 §5.6.1 lists: whether
 * a token is one of the list's members, case-insensitively, whitespace around members ignored.
 * The front, the native tunnel endpoints and the browser proxy's native path each ask this of
 * a request's `Connection` on every request, so each token's pattern is made once.
 * @module
 */

const patterns = new Map<string, RegExp>();

/** Whether `token` (letters, digits, `-`) is a member of the list `value`. */
export function listHas(value: string, token: string): boolean {
  let re = patterns.get(token);
  if (!re) {
    re = new RegExp(`(^|,)\\s*${token}\\s*(,|$)`, "i");
    patterns.set(token, re);
  }
  return re.test(value);
}
