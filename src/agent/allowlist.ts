/**
 * The agent's own allowlist: the (host, port) pairs of its site it may dial, at the newest
 * version the cloud pushed. Older pushes are ignored. The agent refuses every other pair, even
 * when the cloud asks — a compromised cloud must not be able to sweep the LAN. A pair the cloud
 * asks for that is not on the list may be one the cloud has just added: the push (on the control
 * stream) and the open (on a data connection) travel apart, and under load the open can arrive
 * first, so the dialer waits a moment for a newer push before it refuses ({@linkcode
 * Allowlist.allowsSoon}).
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

/** How long an open of a pair not on the list waits for a newer push before it is refused. */
export const ALLOWLIST_CATCH_UP_MS = 2_000;

/** The versioned allowlist. */
export class Allowlist {
  #version = 0;
  #pairs = new Set<string>();
  #waiters = new Set<() => void>();

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
    for (const wake of this.#waiters) wake();
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

  /**
   * True when (host, port) is on the list now, or is on a newer one pushed within `waitMs`;
   * false once that time has passed without it (the list is only ever what the cloud pushed).
   */
  async allowsSoon(host: string, port: number, waitMs = ALLOWLIST_CATCH_UP_MS): Promise<boolean> {
    if (this.allows(host, port)) return true;
    const end = Date.now() + waitMs;
    while (Date.now() < end) {
      let wake = () => {};
      const pushed = new Promise<boolean>((resolve) => wake = () => resolve(true));
      this.#waiters.add(wake);
      let timer: ReturnType<typeof setTimeout> | undefined;
      const late = new Promise<boolean>((resolve) =>
        timer = setTimeout(() => resolve(false), Math.max(0, end - Date.now()))
      );
      try {
        if (!await Promise.race([pushed, late])) return false;
      } finally {
        clearTimeout(timer);
        this.#waiters.delete(wake);
      }
      if (this.allows(host, port)) return true;
    }
    return false;
  }
}
