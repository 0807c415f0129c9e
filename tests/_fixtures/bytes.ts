/**
 * Byte arrays one after another: what the tests that build wire formats by hand (the fuzzer's
 * inputs, SSH's opening, mux frames) need from one place.
 * @module
 */

/** `parts` concatenated into one new array. */
export function concatBytes(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}
