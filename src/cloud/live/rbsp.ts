/**
 * The bit reader both codecs' parameter sets are parsed with (H.264 §7.2, H.265 §7.2 share it):
 * emulation-prevention bytes removed, then fixed-width and Exp-Golomb fields read MSB-first. A
 * field past the end throws RangeError, so a truncated set is refused, not misread.
 * @module
 */

/** Reads the fields of an RBSP (emulation prevention already removed: {@link unescapeRbsp}). */
export class Bits {
  #b: Uint8Array;
  #pos = 0;
  /** Reads `b` from its first bit. */
  constructor(b: Uint8Array) {
    this.#b = b;
  }
  /** An unsigned field of `n` bits (n ≤ 53). */
  u(n: number): number {
    let v = 0;
    for (let i = 0; i < n; i++) {
      const byte = this.#b[this.#pos >> 3];
      if (byte === undefined) throw new RangeError("parameter set truncated");
      v = v * 2 + ((byte >> (7 - (this.#pos & 7))) & 1);
      this.#pos++;
    }
    return v;
  }
  /** An unsigned Exp-Golomb field (ue(v)). */
  ue(): number {
    let zeros = 0;
    while (this.u(1) === 0) if (++zeros > 31) throw new RangeError("bad Exp-Golomb code");
    return zeros ? 2 ** zeros - 1 + this.u(zeros) : 0;
  }
  /** A signed Exp-Golomb field (se(v)). */
  se(): number {
    const k = this.ue();
    return k & 1 ? (k + 1) / 2 : -k / 2;
  }
}

/** Removes emulation-prevention bytes (00 00 03 → 00 00). */
export function unescapeRbsp(nal: Uint8Array): Uint8Array {
  const out: number[] = [];
  let zeros = 0;
  for (const byte of nal) {
    if (zeros >= 2 && byte === 3) {
      zeros = 0;
      continue;
    }
    zeros = byte === 0 ? zeros + 1 : 0;
    out.push(byte);
  }
  return new Uint8Array(out);
}
