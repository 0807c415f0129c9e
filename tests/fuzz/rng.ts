/**
 * A small seeded random source for the fuzzer: every case is generated from (seed, target, case
 * number) alone, so a finding printed as `--seed S --target T --case N` replays byte for byte on
 * any machine. Mutators work on bytes, the level at which parsers break.
 * @module
 */
import { concatBytes } from "../_fixtures/bytes.ts";

/** xorshift128+-free, 32-bit SplitMix-style generator: tiny, fast and good enough for inputs. */
export class Rng {
  #s: number;

  /** A generator for one case. */
  constructor(seed: number) {
    this.#s = seed >>> 0;
  }

  /** The generator of case `n` of target `target` under `seed`. */
  static forCase(seed: number, target: string, n: number): Rng {
    let h = seed >>> 0;
    for (const c of `${target}#${n}`) h = Math.imul(h ^ c.charCodeAt(0), 0x9e3779b1) >>> 0;
    return new Rng(h);
  }

  /** The next 32 random bits. */
  next(): number {
    let z = (this.#s = (this.#s + 0x9e3779b9) >>> 0);
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
    return (z ^ (z >>> 16)) >>> 0;
  }

  /** An integer in [0, n). */
  int(n: number): number {
    return n <= 0 ? 0 : this.next() % n;
  }

  /** True with probability `p`. */
  chance(p: number): boolean {
    return this.next() / 0x1_0000_0000 < p;
  }

  /** One element of `xs`. */
  pick<T>(xs: readonly T[]): T {
    return xs[this.int(xs.length)];
  }

  /** `n` random bytes. */
  bytes(n: number): Uint8Array {
    const out = new Uint8Array(n);
    for (let i = 0; i < n; i++) out[i] = this.next() & 0xff;
    return out;
  }

  /** A length biased toward small values and the edges parsers care about. */
  size(max: number): number {
    const edges = [0, 1, 2, 3, 4, 125, 126, 127, 255, 256, 1023, 1024, 4096, 65535, 65536];
    if (this.chance(0.3)) return Math.min(max, this.pick(edges));
    return this.int(this.chance(0.8) ? Math.min(max, 64) : max);
  }
}

/** Strings that tend to break text protocols: escapes, separators, encodings, control bytes. */
export const NASTY = [
  "%",
  "%E0%A4%A",
  "%ff",
  "%00",
  "%2e%2e",
  "%252e",
  "..",
  "/../",
  "\\",
  "/\\",
  "//",
  "\r\n",
  "\n",
  "\r",
  "\x00",
  " ",
  "\t",
  ":",
  ";",
  "?",
  "#",
  "@",
  "$",
  '"',
  "'",
  "<",
  "${x}",
  "é",
  "\u202e",
  "\ud800",
  "A".repeat(300),
  "9".repeat(25),
  "-1",
  "0x10",
];

/** Applies 1–4 random byte-level mutations (flip, insert, delete, splice a nasty, repeat). */
export function mutate(rng: Rng, input: Uint8Array): Uint8Array {
  let b = input;
  const rounds = 1 + rng.int(4);
  for (let r = 0; r < rounds; r++) {
    const at = rng.int(b.length + 1);
    switch (rng.int(6)) {
      case 0: { // flip bits
        if (!b.length) break;
        b = b.slice();
        b[Math.min(at, b.length - 1)] ^= 1 << rng.int(8);
        break;
      }
      case 1: { // insert a nasty string
        const s = new TextEncoder().encode(rng.pick(NASTY));
        b = concat(b.subarray(0, at), s, b.subarray(at));
        break;
      }
      case 2: { // delete a run
        b = concat(b.subarray(0, at), b.subarray(Math.min(b.length, at + 1 + rng.int(16))));
        break;
      }
      case 3: { // random bytes
        b = concat(b.subarray(0, at), rng.bytes(1 + rng.int(8)), b.subarray(at));
        break;
      }
      case 4: { // repeat a slice
        const end = Math.min(b.length, at + 1 + rng.int(32));
        const part = b.subarray(at, end);
        b = concat(b.subarray(0, end), part, part, b.subarray(end));
        break;
      }
      default: // truncate
        b = b.subarray(0, at);
    }
  }
  return b;
}

/** Concatenates byte arrays. */
export const concat = concatBytes;
