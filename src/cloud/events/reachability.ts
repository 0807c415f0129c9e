/**
 * The cloud's side of device reachability (issue 15 item 5): an agent's report (only changes,
 * or its whole view after a reconnect) is checked against the site's allowlist, each pair's
 * state written with the store's compare-and-set, and a flip raises `device.down` /
 * `device.up` — one per flip even when two agents of the site or two nodes report it, because
 * only the write that changed the state raises it. A port first seen up raises nothing (that
 * is no news); one first seen down raises `device.down`. Many flips the same way at once (a
 * switch of cameras losing power) raise one grouped event ({@linkcode GROUP_MIN}).
 * @module
 */
import type { Clock } from "../../shared/clock.ts";
import { clip } from "../../shared/clip.ts";
import type { ReachabilityReport } from "../../shared/protocol/control.ts";
import { loopTurn, timeSlicer } from "../../shared/time_slice.ts";
import type {
  Device,
  NewTenantEvent,
  PortState,
  PortStateCounts,
  PortStatePageQuery,
  Store,
} from "../store/store.ts";
import type { EventProducer } from "./producer.ts";

/** The most pairs one report may carry (a site's allowlist is far smaller). */
export const MAX_REPORTED_PORTS = 4096;

/** Who reported: the agent's session. */
export interface Reporter {
  agentId: string;
  tenantId: string;
  siteId: string;
}

/** What the handler needs. */
export interface ReachabilityDeps {
  store: Store;
  events: EventProducer;
  clock: Clock;
}

/** A device's display name for an event: its label (or model), host and port. */
export function portName(d: Device | undefined, host: string, port: number): string {
  const name = d?.label || d?.model || "";
  return name ? `${name} (${host}:${port})` : `${host}:${port}`;
}

/**
 * Pairs recorded per step of a report: one store read of the step's devices, one write (a single
 * transaction on SQLite) and the step's events, then a turn of the event loop. A site-wide report
 * (an agent back after a reconnect, a switch of cameras gone at once) is thousands of pairs, and
 * written in one go it held the node (every tunnel, stream and request) for most of a second.
 */
export const REACHABILITY_STEP = 250;

/**
 * Flips the same way in one step of a report from which they are raised as one grouped event:
 * `device.down` (or `device.up`) with the site as its subject, `subject.count` ports, and every
 * one of them in `detail.ports` (a step has at most {@linkcode REACHABILITY_STEP}). A switch of
 * 24 cameras that lost power was 48 events and 48 webhook deliveries (one per port); a site of
 * 10 000 cameras behind it, 20 000 (now 80).
 */
export const GROUP_MIN = 10;

/**
 * Records one report; returns the number of state changes it made. A pair is recorded only
 * while a device of the site has it (the allowlist): a stale report of a removed pair is dropped.
 */
export async function recordReachability(
  d: ReachabilityDeps,
  who: Reporter,
  report: ReachabilityReport,
): Promise<number> {
  const ports = report.ports.slice(0, MAX_REPORTED_PORTS);
  const slice = timeSlicer();
  let changes = 0;
  for (let i = 0; i < ports.length; i += REACHABILITY_STEP) {
    if (i) await loopTurn();
    changes += await recordStep(d, who, ports.slice(i, i + REACHABILITY_STEP), slice);
  }
  return changes;
}

/** One step of a report: its pairs' devices read, states written, flips raised as events. */
async function recordStep(
  d: ReachabilityDeps,
  who: Reporter,
  ports: ReachabilityReport["ports"],
  slice: () => Promise<void>,
): Promise<number> {
  const hosts = [...new Set(ports.map((p) => p.host))];
  const byPair = new Map<string, Device>();
  for (const dev of await d.store.getDevicesByHost(who.tenantId, who.siteId, hosts)) {
    for (const port of dev.ports) {
      const key = `${dev.host.toLowerCase()}|${port}`;
      if (!byPair.has(key)) byPair.set(key, dev); // oldest first: the first one names it
    }
  }
  const states: PortState[] = [];
  for (const p of ports) {
    const host = p.host.toLowerCase();
    if (!byPair.has(`${host}|${p.port}`)) continue; // stale report of a removed pair
    states.push({
      tenantId: who.tenantId,
      siteId: who.siteId,
      host,
      port: p.port,
      up: p.up,
      since: d.clock.now(),
      error: p.up ? "" : clip(p.error || "connect failed"),
      agentId: who.agentId,
    });
  }
  const results = await d.store.recordPortStates(states);
  const events: NewTenantEvent[] = [];
  let changes = 0;
  results.forEach((r, i) => {
    if (!r.changed) return;
    changes++;
    const s = states[i];
    if (r.previous === null && s.up) return; // first seen up: no news
    const dev = byPair.get(`${s.host}|${s.port}`);
    events.push({
      tenantId: who.tenantId,
      type: s.up ? "device.up" : "device.down",
      subject: {
        name: portName(dev, s.host, s.port),
        deviceId: dev?.id,
        siteId: who.siteId,
        host: s.host,
        port: s.port,
        agentId: who.agentId,
      },
      actor: `agent:${who.agentId}`,
      detail: s.up ? {} : { error: s.error },
      key: `device.${s.up ? "up" : "down"}:${who.siteId}|${s.host}|${s.port}:${s.since}`,
    });
  });
  if (events.length) await d.events.emitAll(grouped(events, who), slice);
  return changes;
}

/** A step's events, with each direction of {@linkcode GROUP_MIN} flips or more as one event. */
function grouped(events: NewTenantEvent[], who: Reporter): NewTenantEvent[] {
  const out: NewTenantEvent[] = [];
  for (const type of ["device.down", "device.up"] as const) {
    const flips = events.filter((e) => e.type === type);
    if (flips.length < GROUP_MIN) {
      out.push(...flips);
      continue;
    }
    const n = flips.length;
    const shown = flips.slice(0, 3).map((e) => e.subject.name).join(", ");
    const first = flips[0];
    out.push({
      tenantId: who.tenantId,
      type,
      subject: {
        name: `${n} device ports ${type === "device.down" ? "down" : "up"}: ${shown} and ${
          n - 3
        } more`,
        siteId: who.siteId,
        agentId: who.agentId,
        count: n,
      },
      actor: first.actor,
      detail: {
        ...(type === "device.down" ? { error: first.detail.error } : {}),
        ports: flips.map((e) => ({
          name: e.subject.name,
          deviceId: e.subject.deviceId,
          host: e.subject.host,
          port: e.subject.port,
          ...(type === "device.down" ? { error: e.detail.error } : {}),
        })),
      },
      // The first flip's key stands for the group: each flip is in one step of one write.
      key: `${first.key}:group`,
    });
  }
  return out;
}

/**
 * A site's reachability for `GET /api/sites/{id}/reachability`: the numbers as
 * {@linkcode Store.countPortStates} counts them (the console reads only those), and a page of the
 * allowlisted pairs' states in (host, port) order (`q`: after a pair, only up or down ones, at
 * most `limit`), with the pair the next page starts after — null on the last page. A site of 10
 * 000 cameras has 20 000 pairs: the whole list was 2 MB of JSON read on every call.
 */
export async function siteReachability(
  store: Store,
  tenantId: string,
  siteId: string,
  q: PortStatePageQuery,
): Promise<
  PortStateCounts & { ports: PortState[]; next: { host: string; port: number } | null }
> {
  const counts = await store.countPortStates(tenantId, siteId);
  const ports = await store.pagePortStates(tenantId, siteId, q);
  const last = ports.at(-1);
  const next = ports.length === q.limit && last ? { host: last.host, port: last.port } : null;
  return { ...counts, ports, next };
}
