/**
 * A listener the system refuses to bind, said with the flag that chose its address and what to
 * do about it. The runtime's own words name neither: Deno's listeners say "Address already in
 * use (os error 98)", node's "listen EADDRINUSE: address already in use 127.0.0.1:8443", and the
 * control listener (in its own process, `control/relay.ts`) only that it did not start. A node
 * started where one of its six ports is taken — another program, or a second cloud on the same
 * machine — now says which flag, which address, and how to find the holder.
 * @module
 */
import type { ListenAddress } from "../shared/cli.ts";

/** The system's refusals a bind can meet, as Deno names them and as node codes them. */
const REFUSALS = [
  { deno: "AddrInUse", code: "EADDRINUSE" },
  { deno: "PermissionDenied", code: "EACCES" },
  { deno: "AddrNotAvailable", code: "EADDRNOTAVAIL" },
] as const;

/** Which refusal `e` is, or null for any other error. */
export function bindRefusal(e: unknown): (typeof REFUSALS)[number]["code"] | null {
  const err = e as { name?: unknown; code?: unknown; message?: unknown } | null;
  for (const r of REFUSALS) {
    if (err?.name === r.deno || err?.code === r.code) return r.code;
    if (typeof err?.message === "string" && err.message.includes(r.code)) return r.code;
  }
  return null;
}

/**
 * Exit codes of the control relay process (`control/relay_child.ts`) for a refused bind, so the
 * cloud that started it can say which refusal it was.
 */
export const RELAY_BIND_EXIT: Record<NonNullable<ReturnType<typeof bindRefusal>>, number> = {
  EADDRINUSE: 20,
  EACCES: 21,
  EADDRNOTAVAIL: 22,
};

/** The refusal a relay's exit code stands for (see {@linkcode RELAY_BIND_EXIT}), or null. */
export function refusalOfExit(code: number): NonNullable<ReturnType<typeof bindRefusal>> | null {
  for (const [refusal, exit] of Object.entries(RELAY_BIND_EXIT)) {
    if (exit === code) return refusal as keyof typeof RELAY_BIND_EXIT;
  }
  return null;
}

/** `host:port` as it is typed (IPv6 in brackets). */
function shown(at: ListenAddress): string {
  return `${at.hostname.includes(":") ? `[${at.hostname}]` : at.hostname}:${at.port}`;
}

/**
 * The error to show for `e`, thrown while binding `at` for `--flag`: a sentence naming them and
 * what to do, or null when `e` is not a refused bind.
 */
export function bindFailure(flag: string, at: ListenAddress, e: unknown): Error | null {
  const head = `cannot listen on ${shown(at)} (--${flag})`;
  switch (bindRefusal(e)) {
    case "EADDRINUSE":
      return new Error(
        `${head}: the address is already in use by another program, or by another connector cloud on ` +
          `this machine (ss -ltnp 'sport = :${at.port}' names it); stop it, or give --${flag} ` +
          "another HOST:PORT",
      );
    case "EACCES":
      // The system's words too: a start can also be refused a file (its temporary directory).
      return new Error(
        `${head}: permission denied (${(e as Error)?.message ?? e})` +
          (at.port > 0 && at.port < 1024
            ? "; ports below 1024 need root or the CAP_NET_BIND_SERVICE capability, or give " +
              `--${flag} a port from 1024 up`
            : ""),
      );
    case "EADDRNOTAVAIL":
      return new Error(
        `${head}: this machine has no address ${at.hostname}; give --${flag} one of its ` +
          "addresses, or 0.0.0.0 for all",
      );
    default:
      return null;
  }
}

/** Runs `start`, which binds `at` for `--flag`; a refused bind becomes {@linkcode bindFailure}. */
export async function listening<T>(
  flag: string,
  at: ListenAddress,
  start: () => Promise<T> | T,
): Promise<T> {
  try {
    return await start();
  } catch (e) {
    throw bindFailure(flag, at, e) ?? e;
  }
}
