/**
 * The agent's own allowlist: the (host, port) pairs of its site it may dial, at the newest
 * version the cloud pushed. Older pushes are ignored. The agent refuses every other pair, even
 * when the cloud asks — a compromised cloud must not be able to sweep the LAN.
 * @module
 */

/** A (host, port) pair. */
export interface Pair {
  host: string;
  port: number;
}

function key(host: string, port: number): string {
  return `${host.toLowerCase()}|${port}`;
}

/** The versioned allowlist. */
export class Allowlist {
  #version = 0;
  #pairs = new Set<string>();

  /** The version held (0 before the first push). */
  get version(): number {
    return this.#version;
  }

  /** Number of pairs held. */
  get size(): number {
    return this.#pairs.size;
  }

  /** Replaces the list when `version` is newer; returns whether it was applied. */
  update(version: number, entries: Pair[]): boolean {
    if (version <= this.#version) return false;
    this.#version = version;
    this.#pairs = new Set(entries.map((e) => key(e.host, e.port)));
    return true;
  }

  /** The pairs held (host as pushed, lower-cased). */
  entries(): Pair[] {
    return [...this.#pairs].map((k) => {
      const i = k.lastIndexOf("|");
      return { host: k.slice(0, i), port: Number(k.slice(i + 1)) };
    });
  }

  /** True when (host, port) is on the list, compared exactly (host case-insensitively). */
  allows(host: string, port: number): boolean {
    return this.#pairs.has(key(host, port));
  }
}
