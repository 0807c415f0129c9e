/**
 * Happy Eyeballs v2 (RFC 8305) for a client that dials out: resolve every A and AAAA of a host,
 * order them IPv6 first and alternating families (§4), then race connection attempts started
 * 250 ms apart (§5; the next one starts at once when the previous fails). The first attempt that
 * completes wins, the others are aborted and a late winner is closed. Generic over what an
 * "attempt" is, so the agent races full TLS handshakes, not only TCP connects.
 * @module
 */
import { isIP } from "node:net";
import { lookup } from "node:dns/promises";

/** One resolved address. */
export interface ResolvedAddress {
  address: string;
  family: 4 | 6;
}

/** Resolves a host name to all of its addresses. */
export type Resolver = (host: string) => Promise<ResolvedAddress[]>;

/** RFC 8305 §5: the recommended delay between connection attempts. */
export const CONNECTION_ATTEMPT_DELAY_MS = 250;

/** The system resolver: every A and AAAA, in the order the resolver returns them. */
export const systemResolver: Resolver = async (host) =>
  (await lookup(host, { all: true, verbatim: true })).map((a) => ({
    address: a.address,
    family: a.family === 6 ? 6 : 4,
  }));

/** Resolves `host`; an IP literal is its own single address. Duplicates are dropped. */
export async function resolveAll(
  host: string,
  resolver: Resolver = systemResolver,
): Promise<ResolvedAddress[]> {
  const bare = host.replace(/^\[|\]$/g, "");
  const fam = isIP(bare);
  if (fam) return [{ address: bare, family: fam === 6 ? 6 : 4 }];
  const seen = new Set<string>();
  return (await resolver(bare)).filter((a) => !seen.has(a.address) && seen.add(a.address));
}

/**
 * Orders addresses for the race (RFC 8305 §4): IPv6 first, then alternating families, each
 * family keeping the resolver's order. Addresses in `demoted` (e.g. the one that just failed)
 * go last, so a reconnect fails over to the others first.
 */
export function interleave(
  addrs: ResolvedAddress[],
  demoted: ReadonlySet<string> = new Set(),
): ResolvedAddress[] {
  const order = (list: ResolvedAddress[]) => {
    const v6 = list.filter((a) => a.family === 6);
    const v4 = list.filter((a) => a.family === 4);
    const out: ResolvedAddress[] = [];
    for (let i = 0; i < Math.max(v6.length, v4.length); i++) {
      if (v6[i]) out.push(v6[i]);
      if (v4[i]) out.push(v4[i]);
    }
    return out;
  };
  return [
    ...order(addrs.filter((a) => !demoted.has(a.address))),
    ...order(addrs.filter((a) => demoted.has(a.address))),
  ];
}

/** The winner of a race. */
export interface RaceWin<T> {
  value: T;
  address: ResolvedAddress;
}

/**
 * Races `attempt` over `addrs` in order, starting one every `staggerMs` (or at once after a
 * failure). Resolves with the first success; aborts the rest and passes late successes to
 * `discard`. Rejects with every attempt's error when all fail.
 */
export function race<T>(
  addrs: ResolvedAddress[],
  attempt: (a: ResolvedAddress, signal: AbortSignal) => Promise<T>,
  opts: { staggerMs?: number; discard?: (value: T) => void } = {},
): Promise<RaceWin<T>> {
  const stagger = opts.staggerMs ?? CONNECTION_ATTEMPT_DELAY_MS;
  if (addrs.length === 0) return Promise.reject(new Error("no addresses to connect to"));
  return new Promise((resolve, reject) => {
    const controllers: AbortController[] = [];
    const errors: string[] = [];
    let next = 0;
    let failed = 0;
    let won = false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const startNext = () => {
      clearTimeout(timer);
      if (won || next >= addrs.length) return;
      const a = addrs[next++];
      const ac = new AbortController();
      controllers.push(ac);
      attempt(a, ac.signal).then((value) => {
        if (won) return opts.discard?.(value);
        won = true;
        clearTimeout(timer);
        for (const c of controllers) if (c !== ac) c.abort();
        resolve({ value, address: a });
      }, (e) => {
        errors.push(`${a.address}: ${(e as Error).message}`);
        if (won) return;
        if (++failed === addrs.length) {
          return reject(new Error(`every address failed (${errors.join("; ")})`));
        }
        startNext();
      });
      timer = setTimeout(startNext, stagger);
    };
    startNext();
  });
}
