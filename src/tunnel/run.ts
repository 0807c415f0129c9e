/**
 * `connector tunnel run --token -` (nanodems-tunnel; the ops_… token on standard input): fetch the session's bind plan, print
 * it, listen on every 127.0.0.X:port of it, and carry each connection to its device over
 * `/api/cli/raw-tunnel/{ip}/{port}`. Plan changes and revocation arrive on an event stream
 * within seconds (events.ts), with a refresh every 60 s as the fallback; a revoked or expired
 * session ends the process with exit code 3 and a clear message. A session with more device ports
 * than the process's open-file limit leaves room for is bound as far as it goes, and the CLI says
 * so once, with the limit and what to do (listeners.ts). Each pair bound is logged when a plan
 * change binds a few; when it binds many (the first plan of a big session), one line says how
 * many, since the table already lists them.
 * @module
 */
import { createLogger } from "../shared/log.ts";
import { installLastResort } from "../shared/last_resort.ts";
import { announceProxy, carry, sparesFor, wsUrl } from "./connect.ts";
import { SERVER_FIRST_PORTS } from "../shared/transport/early_data.ts";
import { descriptorReserve, listenerBudget, Listeners, type SyncResult } from "./listeners.ts";
import { openDescriptors, openFileLimit, raiseOpenFileLimit } from "../shared/open_files.ts";
import { fetchPlan, type Plan, PlanError, planTable } from "./plan.ts";
import { followEvents } from "./events.ts";

/** A sync that binds more pairs than this logs one line for them, not one per pair. */
export const LISTED_BINDS = 20;

/** Exit code when the session is revoked or expired. */
export const EXIT_SESSION_ENDED = 3;

/** Runs until a signal (0) or until the session ends (EXIT_SESSION_ENDED). */
export async function runTunnel(
  o: { cloud: URL; token: string; refreshMs: number; earlyData?: boolean },
): Promise<number> {
  const log = createLogger({ role: "tunnel" });
  installLastResort(log);
  announceProxy(o.cloud, log);
  const headers = { authorization: `Bearer ${o.token}` };
  const spares = sparesFor(o.cloud);
  let finish!: (code: number) => void;
  const done = new Promise<number>((r) => (finish = r));
  const sessionEnded = (message: string) => {
    console.error(
      `\nThe CLI session has ended: ${message}\nOpen a new CLI session on the site page and run the new command.`,
    );
    finish(EXIT_SESSION_ENDED);
  };
  // Every listener is a descriptor: the open-file limit, less what is open and a reserve for the
  // connections carried, is how many pairs can listen at once.
  raiseOpenFileLimit();
  const limit = openFileLimit();
  const budget = listenerBudget(limit, openDescriptors());
  let acceptWarned = 0;
  // Pairs a sync bound: each logged when few, one line when many (the table lists them).
  const justBound: string[] = [];
  const logBound = () => {
    if (justBound.length > LISTED_BINDS) {
      const all = listeners.bound.length;
      log.info(
        { pairs: justBound.length, listening: all },
        all === justBound.length
          ? `listening on ${all} pairs (each in the table)`
          : `listening on ${justBound.length} more pairs, ${all} in all`,
      );
      for (const key of justBound) log.debug({ listen: key }, "listening");
    } else {
      for (const key of justBound) log.info({ listen: key }, "listening");
    }
    justBound.length = 0;
  };
  const listeners = new Listeners(
    {
      bound: (key) => justBound.push(key),
      closed: (key) => log.info({ listen: key }, "no longer in the plan; stopped listening"),
      fallback: (key, at) => {
        const ip = key.split(":")[0];
        log.warn(
          { pair: key, fallback: at },
          `this OS lacks the loopback alias ${ip}; serving ${key} on ${at} instead ` +
            `(to use ${ip}, run: sudo ifconfig lo0 alias ${ip} up, then restart nanodems-tunnel)`,
        );
        console.error(`  ${key.padEnd(21)} → use ${at}`);
      },
      failed: (key, err, first) => {
        if (!first) return;
        const hint = /not available|EADDRNOTAVAIL|Cannot assign/i.test(err.message)
          ? ` (this OS lacks the loopback alias; add it with: sudo ifconfig lo0 alias ${
            key.split(":")[0]
          } up)`
          : " (retrying on every plan refresh)";
        log.warn({ listen: key, err: err.message }, `cannot listen${hint}`);
      },
      acceptFailed: (key, err) => {
        if (Date.now() - acceptWarned < 5_000) return;
        acceptWarned = Date.now();
        log.warn({ listen: key, err: err.message }, "accept failed; accepting again");
      },
      accept: (conn, entry) => {
        const key = `${entry.ip}:${entry.port}`;
        const url = wsUrl(o.cloud, `/api/cli/raw-tunnel/${entry.ip}/${entry.port}`);
        carry(conn, url, headers, spares, {
          enabled: o.earlyData ?? true,
          serverFirst: SERVER_FIRST_PORTS.has(entry.port),
        }).then(
          (r) => {
            if (r.ok) {
              log.info(
                { pair: key, up: r.up, down: r.down, reason: r.reason || undefined },
                "connection closed",
              );
            } else if (r.status === 401) {
              sessionEnded(r.message);
            } else if (r.status === 404) {
              log.warn(`rejecting unknown loopback ${key}`);
            } else {
              log.warn({ pair: key, status: r.status, reason: r.message }, "tunnel refused");
            }
          },
        );
      },
    },
    undefined,
    budget,
  );
  // Said when what the limit left out changes; on the terminal too when a shortfall begins.
  let leftOut = 0;
  const report = (r: SyncResult) => {
    if (r.unbound === leftOut) return;
    const first = leftOut === 0;
    leftOut = r.unbound;
    if (r.unbound === 0) {
      log.info({ pairs: r.wanted }, "every pair of the plan is listening");
      return;
    }
    const why = limit === null
      ? "this process ran out of file descriptors"
      : `this process may hold ${limit} open files (ulimit -n) and keeps ${
        descriptorReserve(limit)
      } of them for the connections it carries`;
    const message = `listening on ${listeners.bound.length} of the session's ${r.wanted} device ` +
      `ports: ${why}. Raise the limit (ulimit -n 65536 as root in the shell that starts ` +
      `nanodems-tunnel, or LimitNOFILE=65536 for a service) and restart, or open a CLI session ` +
      `for fewer sites. Not listening: ${r.unbound} pairs, the first ${r.firstUnbound} (in the ` +
      `table's order).`;
    log.warn({ listening: listeners.bound.length, pairs: r.wanted, limit }, message);
    if (first) console.error(`\nnanodems-tunnel: ${message}\n`);
  };
  // An older plan must never be applied after a newer one. Plans come from two places (the
  // refresh and the event stream), so each is numbered when it is asked for (a fetch) or arrives
  // (an event), and one numbered before the last applied is dropped: a refresh that was in flight
  // while an event removed a device would otherwise bind that device again.
  let issued = 0;
  let applied = 0;
  const apply = (seq: number, entries: Plan["entries"]) => {
    if (seq < applied) return;
    applied = seq;
    const r = listeners.sync(entries);
    logBound();
    report(r);
  };
  let refreshing = false;
  const refresh = async (first: boolean) => {
    if (refreshing) return;
    refreshing = true;
    const seq = ++issued;
    try {
      const plan = await fetchPlan(o.cloud, o.token);
      if (first) {
        const exp = plan.session.expiresAt ? new Date(plan.session.expiresAt).toISOString() : "?";
        console.error(
          `nanodems-tunnel: ${plan.entries.length} device ports via ${o.cloud.origin} (session valid until ${exp})\n${
            planTable(plan.entries)
          }\n`,
        );
      }
      apply(seq, plan.entries);
    } catch (e) {
      if (e instanceof PlanError && e.status === 401) return sessionEnded(e.message);
      if (first) throw e;
      log.warn({ err: (e as Error).message }, "plan refresh failed; keeping the current listeners");
    } finally {
      refreshing = false;
    }
  };
  await refresh(true);
  // Changes and revocation arrive on the event stream within seconds; the refresh is the fallback.
  const stopEvents = followEvents(new URL("/api/cli/sessions/plan/events", o.cloud), o.token, {
    plan: (p) => apply(++issued, (p as Plan).entries),
    revoked: (message) => sessionEnded(message),
    trouble: (message) => log.debug({ err: message }, "plan events"),
  });
  const timer = setInterval(() => refresh(false), o.refreshMs);
  const onSignal = () => finish(0);
  Deno.addSignalListener("SIGINT", onSignal);
  Deno.addSignalListener("SIGTERM", onSignal);
  const code = await done;
  clearInterval(timer);
  stopEvents();
  listeners.close();
  spares.close();
  Deno.removeSignalListener("SIGINT", onSignal);
  Deno.removeSignalListener("SIGTERM", onSignal);
  return code;
}
