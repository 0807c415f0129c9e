/**
 * The soak's world: one real `connector cloud` (through the e2e fixture `Stack`), the loopback
 * targets, and two tenants ("alpha" and "beta"), each with a site, an API token, one device that
 * carries the echo, HTTP and RTSP ports, and its own enrolled, running `connector agent`. Only
 * alpha's agent is restarted during the run; beta's stays up so its memory and descriptors can be
 * judged over the whole run like the cloud's.
 * @module
 */
import { type Proc, type Quickstart, Stack } from "../_fixtures/stack.ts";
import { startTargets, type Targets } from "./targets.ts";

/** A window during which a tenant's agent was down or coming back (`to` is Infinity while so). */
export interface RestartWindow {
  from: number;
  to: number;
}

/** One tenant of the soak. */
export interface Tenant {
  name: string;
  q: Quickstart;
  /** The agent's state directory (kept across restarts). */
  state: string;
  agent: Proc;
  handles: { echo: string; http: string; rtsp: string };
  /** Whether the workload restarts this tenant's agent. */
  restartable: boolean;
  restarts: RestartWindow[];
}

/** Everything the workload drives. */
export interface World {
  stack: Stack;
  targets: Targets;
  tenants: Tenant[];
  close(): Promise<void>;
}

/** How long an agent may take to say "control stream up" on a loaded 2-core machine. */
export const AGENT_UP_MS = 90_000;

/** Starts the cloud, the targets and both tenants with their agents. */
export async function startWorld(log: (s: string) => void): Promise<World> {
  const stack = await Stack.start();
  let targets: Targets | undefined;
  try {
    targets = await startTargets();
    if (targets.rtsp.note) log(`note: ${targets.rtsp.note}; RTSP sessions use a raw client`);
    const ports = [targets.echo.port, targets.http.port, targets.rtsp.port];
    const tenants: Tenant[] = [];
    for (const name of ["alpha", "beta"]) {
      const q = await stack.quickstart(ports, name === "alpha" ? "Alpha" : "Beta");
      const e = await stack.enroll(q.enrollmentToken, `agent-${name}`);
      if (e.code !== 0) throw new Error(`enroll ${name} failed: ${e.stderr}`);
      const agent = await startAgent(stack, e.state);
      const h = q.device.handles;
      tenants.push({
        name,
        q,
        state: e.state,
        agent,
        handles: {
          echo: h[targets.echo.port],
          http: h[targets.http.port],
          rtsp: h[targets.rtsp.port],
        },
        restartable: name === "alpha",
        restarts: [],
      });
    }
    const t = targets;
    return {
      stack,
      targets: t,
      tenants,
      async close() {
        await stack.stop();
        await t.close();
      },
    };
  } catch (e) {
    await stack.stop();
    await targets?.close();
    throw e;
  }
}

/** Runs `connector agent run` on `state` and waits (generously) until its stream is up. */
export async function startAgent(stack: Stack, state: string): Promise<Proc> {
  const p = await stack.runAgent(state, false);
  await p.waitFor(/"control stream up"/, AGENT_UP_MS);
  return p;
}

/** Calls the cloud's JSON API with a bearer token; returns status and parsed body. */
export async function api(
  stack: Stack,
  token: string,
  method: string,
  path: string,
  body?: unknown,
): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(stack.url + path, {
    method,
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  let parsed: Record<string, unknown> = {};
  try {
    parsed = text ? JSON.parse(text) : {};
  } catch {
    parsed = { text };
  }
  return { status: res.status, body: parsed };
}

/**
 * Writes every process's collected output (the cloud, each life of each agent) to files in a
 * directory beside `out` (`out/soak/latest.logs/`), so a crash or a surprise can be read after
 * the run. Returns the directory.
 */
export function saveLogs(w: World, out: string): string {
  const dir = out.replace(/\.json$/, "") + ".logs";
  Deno.mkdirSync(dir, { recursive: true });
  Deno.writeTextFileSync(`${dir}/cloud.log`, w.stack.cloud.lines.join("\n") + "\n");
  const lives = new Map<string, number>();
  for (const a of w.stack.agents) {
    const t = w.tenants.find((t) => a.lines.some((l) => l.includes(t.state)));
    const name = t?.name ?? "agent";
    const n = (lives.get(name) ?? 0) + 1;
    lives.set(name, n);
    Deno.writeTextFileSync(`${dir}/agent-${name}-${n}.log`, a.lines.join("\n") + "\n");
  }
  return dir;
}
