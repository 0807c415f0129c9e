/**
 * The cloud's side of device reachability (issue 15 item 5): an agent's report (only changes,
 * or its whole view after a reconnect) is checked against the site's allowlist, each pair's
 * state written with the store's compare-and-set, and a flip raises `device.down` /
 * `device.up` — one per flip even when two agents of the site or two nodes report it, because
 * only the write that changed the state raises it. A port first seen up raises nothing (that
 * is no news); one first seen down raises `device.down`.
 * @module
 */
import type { Clock } from "../../shared/clock.ts";
import { clip } from "../../shared/clip.ts";
import type { ReachabilityReport } from "../../shared/protocol/control.ts";
import type { Device, PortState, Store } from "../store/store.ts";
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

/** Records one report; returns the number of state changes it made. */
export async function recordReachability(
  d: ReachabilityDeps,
  who: Reporter,
  report: ReachabilityReport,
): Promise<number> {
  const ports = report.ports.slice(0, MAX_REPORTED_PORTS);
  if (!ports.length) return 0;
  const allow = await d.store.getAllowlist(who.siteId);
  const allowed = new Set(allow.entries.map((e) => `${e.host.toLowerCase()}|${e.port}`));
  let devices: Device[] | null = null;
  let changes = 0;
  for (const p of ports) {
    const host = p.host.toLowerCase();
    if (!allowed.has(`${host}|${p.port}`)) continue; // stale report of a removed pair
    const state: PortState = {
      tenantId: who.tenantId,
      siteId: who.siteId,
      host,
      port: p.port,
      up: p.up,
      since: d.clock.now(),
      error: p.up ? "" : clip(p.error || "connect failed"),
      agentId: who.agentId,
    };
    const r = await d.store.recordPortState(state);
    if (!r.changed) continue;
    changes++;
    if (r.previous === null && p.up) continue;
    devices ??= await d.store.listDevices(who.tenantId, who.siteId);
    const dev = devices.find((x) => x.host.toLowerCase() === host && x.ports.includes(p.port));
    await d.events.emit({
      tenantId: who.tenantId,
      type: p.up ? "device.up" : "device.down",
      subject: {
        name: portName(dev, host, p.port),
        deviceId: dev?.id,
        siteId: who.siteId,
        host,
        port: p.port,
        agentId: who.agentId,
      },
      actor: `agent:${who.agentId}`,
      detail: p.up ? {} : { error: state.error },
      key: `device.${p.up ? "up" : "down"}:${who.siteId}|${host}|${p.port}:${state.since}`,
    });
  }
  return changes;
}

/** A site's reachability for the console and the API: per pair, and "N of M ports up". */
export async function siteReachability(
  store: Store,
  tenantId: string,
  siteId: string,
): Promise<{ up: number; total: number; checked: number; ports: PortState[] }> {
  const allow = await store.getAllowlist(siteId);
  const states = new Map(
    (await store.listPortStates(tenantId, siteId)).map((s) => [`${s.host}|${s.port}`, s]),
  );
  const ports: PortState[] = [];
  for (const e of allow.entries) {
    const s = states.get(`${e.host.toLowerCase()}|${e.port}`);
    if (s) ports.push(s);
  }
  return {
    up: ports.filter((s) => s.up).length,
    total: allow.entries.length,
    checked: ports.length,
    ports,
  };
}
