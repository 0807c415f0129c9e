/**
 * What the fuzzer runs against: the real `connector cloud` and `connector agent` processes from
 * the one e2e fixture, two tenants, and devices that record what reaches them — an HTTP device
 * (every request target and header it receives, so the oracle can tell whether a path escape or
 * a cloud credential got through), a fake RTSP camera that answers 200 to everything, a TCP
 * echo, a hostile camera the live view plays (camera_target.ts), a hostile device web port
 * (device_target.ts) and a hostile LAN that a site's agent probes (discovery_target.ts). Also an
 * enrolled agent identity that is not running, whose certificate the control stream fuzzer
 * presents.
 * @module
 */
import {
  echoServer,
  type Proc,
  type Quickstart,
  Stack,
  TEST_ADMIN_KEY,
} from "../_fixtures/stack.ts";
import { fakeRtspDevice } from "../_fixtures/rtsp.ts";
import { CAMERA_HOST, type HostileCamera, hostileCamera } from "./camera_target.ts";
import { DEVICE_HOST, type HostileDevice, hostileDevice } from "./device_target.ts";
import { type HostileLan, hostileLan } from "./discovery_target.ts";
import { FUZZ_PROXY_TIMEOUT_S } from "./https_target.ts";
import { loadState } from "../../src/agent/state.ts";
import type { AgentState } from "../../src/agent/state.ts";

/** A request the HTTP device received. */
export interface DeviceHit {
  target: string;
  headers: [string, string][];
}

/** The running world. */
export interface World {
  stack: Stack;
  a: Quickstart;
  b: Quickstart;
  /** Handles of tenant A: its HTTP device, RTSP device, echo and hostile camera. */
  handles: { http: string; rtsp: string; echo: string; camera: string; device: string };
  /** A camera that answers the live view with each case's hostile script (camera_target.ts). */
  camera: HostileCamera;
  /** A device whose web port answers hostile HTTP and SOAP (device_target.ts), on its own host. */
  device: HostileDevice;
  /** A LAN that answers ONVIF probes with each case's hostile script (discovery_target.ts). */
  lan: HostileLan;
  /** A tenant of its own whose site's agent (and only it) probes the hostile LAN. */
  lanSite: Quickstart;
  /** The running agents (tenant A's, the LAN site's): neither may exit or lose its stream. */
  agents: { name: string; proc: Proc }[];
  /** Tenant B's handle for the same HTTP device (another tenant's view). */
  foreignHandle: string;
  /** What the HTTP device received. */
  deviceHits: DeviceHit[];
  /** A valid, enrolled agent identity that no process uses. */
  idle: AgentState;
  /** The cloud process id. */
  cloudPid: number;
  stop(): Promise<void>;
}

/** An HTTP device on loopback that records every request and answers a small page. */
function httpDevice(hits: DeviceHit[]): { port: number; close(): Promise<void> } {
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (req) => {
    const url = new URL(req.url);
    hits.push({ target: url.pathname + url.search, headers: [...req.headers] });
    if (hits.length > 10_000) hits.splice(0, 5_000);
    return new Response("<html><body>device</body></html>", {
      headers: { "content-type": "text/html" },
    });
  });
  return { port: server.addr.port, close: () => server.shutdown() };
}

/**
 * Adds the hostile device to tenant A's site (its web port marked HTTP), holds the credentials
 * its ONVIF services take, and turns its motion alerts on (the node then polls its events by
 * itself): the web port's handle.
 */
async function addHostileDevice(stack: Stack, a: Quickstart, port: number): Promise<string> {
  const { id, handle } = await addDevice(stack, a, DEVICE_HOST, port, "http");
  for (
    const [method, path, body] of [
      ["PUT", `/api/sites/${a.siteId}/devices/${id}/credentials`, {
        username: "admin",
        password: "12345",
      }],
      ["PATCH", `/api/devices/${id}`, { motionAlerts: true }],
    ] as const
  ) {
    const r = await stack.api(method, path, a.apiToken, body);
    if (r.status !== 200) {
      throw new Error(`${method} ${path}: ${r.status} ${JSON.stringify(r.json)}`);
    }
  }
  return handle;
}

/** Adds a device of one port to tenant A's site: its id and the port's handle. */
async function addDevice(
  stack: Stack,
  a: Quickstart,
  host: string,
  port: number,
  protocol: string,
): Promise<{ id: string; handle: string }> {
  const added = await stack.api("POST", `/api/sites/${a.siteId}/devices`, a.apiToken, {
    host,
    ports: [port],
    protocols: { [port]: protocol },
  });
  if (added.status !== 201) throw new Error(`adding the device at ${host}: ${added.status}`);
  return {
    id: added.json.id as string,
    handle: (added.json.handles as Record<string, string>)[String(port)],
  };
}

/** Starts the world. */
export async function startWorld(log: (line: string) => void): Promise<World> {
  // The fuzzer connects from 127.0.0.1, a trusted proxy here: the X-Forwarded-For it sends
  // decides the client every limit and audit row counts (clientAddress, address_key.ts).
  const stack = await Stack.start({
    cloudArgs: [
      "--trusted-proxies",
      "127.0.0.1/32",
      // A device that never answers is given up on soon (https_target.ts waits for that).
      "--proxy-timeout",
      `${FUZZ_PROXY_TIMEOUT_S}s`,
    ],
  });
  const hits: DeviceHit[] = [];
  const http = httpDevice(hits);
  const rtsp = fakeRtspDevice();
  const echo = await echoServer();
  const camera = hostileCamera();
  stack.defer(camera.close);
  const device = hostileDevice();
  stack.defer(device.close);
  stack.defer(http.close);
  stack.defer(rtsp.close);
  stack.defer(echo.close);
  log(`cloud up: http ${stack.ports.http}, rtsp ${stack.ports.rtsp}, data ${stack.ports.data}`);
  const a = await stack.quickstart([http.port, rtsp.port, echo.port], "Alpha");
  const b = await stack.quickstart([http.port], "Beta");
  const deviceHandle = await addHostileDevice(stack, a, device.port);
  const { handle: cameraHandle } = await addDevice(stack, a, CAMERA_HOST, camera.port, "rtsp");
  const agent = await stack.agentFor(a);
  // The hostile LAN's site: a tenant of its own, so no other target's agent answers its probes.
  const lan = await hostileLan();
  stack.defer(lan.close);
  const lanSite = await stack.quickstart([9], "Lan");
  const lanEnrolled = await stack.enroll(lanSite.enrollmentToken, "lan-agent");
  if (lanEnrolled.code !== 0) throw new Error(`enrolling the LAN's agent: ${lanEnrolled.stderr}`);
  const lanAgent = await stack.runAgent(lanEnrolled.state, true, {
    NC_DISCOVERY_TARGETS: `127.0.0.1:${lan.port}`,
  });
  const spare = await stack.admin<{ token: string }>(
    "enroll-token",
    "--tenant",
    a.tenantId,
    "--site",
    a.siteId,
  );
  const enrolled = await stack.enroll(spare.token, "idle-agent");
  if (enrolled.code !== 0) {
    throw new Error(`enrolling the idle identity failed: ${enrolled.stderr}`);
  }
  const idle = await loadState(enrolled.state);
  if (!idle) throw new Error("no idle agent state");
  log("tenants, devices and agents ready");
  return {
    stack,
    a,
    b,
    handles: {
      http: a.device.handles[http.port],
      rtsp: a.device.handles[rtsp.port],
      echo: a.device.handles[echo.port],
      camera: cameraHandle,
      device: deviceHandle,
    },
    camera,
    device,
    lan,
    lanSite,
    agents: [{ name: "tenant A's agent", proc: agent }, {
      name: "the LAN's agent",
      proc: lanAgent,
    }],
    foreignHandle: b.device.handles[http.port],
    deviceHits: hits,
    idle,
    cloudPid: stack.cloud.child.pid,
    stop: () => stack.stop(),
  };
}

/** Resident memory of a process in KiB (VmRSS), or 0 when it is gone. */
export function rssKib(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+)/.exec(Deno.readTextFileSync(`/proc/${pid}/status`));
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}

/**
 * The cloud's JavaScript heap in use and reserved and its external buffers, in MiB, from its
 * `/metrics` (null when it does not answer): a leak raises the heap's floor; RSS growing while
 * that floor stays flat is heap reservation or allocator high-water.
 */
export async function cloudHeapMib(
  stack: Stack,
): Promise<{ used: number; total: number; external: number } | null> {
  try {
    const res = await fetch(`${stack.url}/metrics`, {
      headers: { "x-admin-api-key": TEST_ADMIN_KEY },
      signal: AbortSignal.timeout(5_000),
    });
    const text = await res.text();
    const g = (n: string) => Number(new RegExp(`^${n} (\\d+)$`, "m").exec(text)?.[1] ?? NaN);
    const mib = (b: number) => Math.round(b / 1048576);
    return {
      used: mib(g("process_heap_used_bytes")),
      total: mib(g("process_heap_total_bytes")),
      external: mib(g("process_external_memory_bytes")),
    };
  } catch {
    return null;
  }
}

/**
 * CPU seconds (user + system) a process and all its descendants have used so far: its own time,
 * the time of children it has already reaped (a restarted control relay), and the time of every
 * live descendant (the running relay). 0 when it is gone.
 */
export function cpuSeconds(pid: number | "self"): number {
  try {
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    // utime, stime, cutime, cstime in clock ticks (USER_HZ 100)
    let total = (Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14])) / 100;
    for (const child of childPids(pid)) total += cpuSeconds(child);
    return total;
  } catch {
    return 0;
  }
}

/** The live children of a process, from every thread's `children` list. */
function childPids(pid: number | "self"): number[] {
  const out: number[] = [];
  try {
    for (const task of Deno.readDirSync(`/proc/${pid}/task`)) {
      try {
        const text = Deno.readTextFileSync(`/proc/${pid}/task/${task.name}/children`).trim();
        if (text) out.push(...text.split(/\s+/).map(Number));
      } catch { /* the thread ended */ }
    }
  } catch { /* the process ended */ }
  return out;
}

/**
 * Sends `bytes` on a fresh TCP connection (optionally cut in two writes) and collects what comes
 * back until the peer closes, `done(received)` says the answer is complete, or `ms` pass.
 */
export async function exchange(
  port: number,
  bytes: Uint8Array,
  opts: {
    ms?: number;
    split?: number;
    done?: (got: Uint8Array) => boolean;
    /** Stop once nothing arrived for this long (after the request was sent). */
    idleMs?: number;
  } = {},
): Promise<Uint8Array> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  const chunks: Uint8Array[] = [];
  let total = 0;
  const hangUp = () => {
    try {
      conn.close();
    } catch { /* closed */ }
  };
  const timer = setTimeout(hangUp, opts.ms ?? 1_500);
  let idle: ReturnType<typeof setTimeout> | undefined;
  const quiet = () => {
    if (!opts.idleMs) return;
    clearTimeout(idle);
    idle = setTimeout(hangUp, opts.idleMs);
  };
  try {
    const cut = opts.split ?? bytes.length;
    await writeAll(conn, bytes.subarray(0, cut));
    if (cut < bytes.length) await writeAll(conn, bytes.subarray(cut));
    const buf = new Uint8Array(16 << 10);
    quiet();
    for (;;) {
      const n = await conn.read(buf);
      if (n === null) break;
      quiet();
      chunks.push(buf.slice(0, n));
      total += n;
      if (total > 1 << 20) break;
      if (opts.done) {
        const all = joined(chunks, total);
        if (opts.done(all)) break;
      }
    }
  } catch { /* reset or closed by the timer */ }
  clearTimeout(timer);
  clearTimeout(idle);
  try {
    conn.close();
  } catch { /* closed */ }
  return joined(chunks, total);
}

function joined(chunks: Uint8Array[], total: number): Uint8Array {
  const out = new Uint8Array(total);
  let off = 0;
  for (const c of chunks) {
    out.set(c, off);
    off += c.length;
  }
  return out;
}

/** Writes every byte. */
export async function writeAll(conn: Deno.Conn, bytes: Uint8Array): Promise<void> {
  let off = 0;
  while (off < bytes.length) off += await conn.write(bytes.subarray(off));
}

/** Whether `got` holds one complete HTTP/RTSP response (head + Content-Length body). */
export function completeResponse(got: Uint8Array): boolean {
  const text = new TextDecoder("latin1").decode(got);
  const end = text.indexOf("\r\n\r\n");
  if (end < 0) return false;
  const len = /\r\ncontent-length:\s*(\d+)/i.exec(text.slice(0, end))?.[1];
  if (/\r\ntransfer-encoding:\s*chunked/i.test(text.slice(0, end))) {
    return text.endsWith("0\r\n\r\n");
  }
  return len === undefined
    ? /^(HTTP|RTSP)\/1\.[01] (1\d\d|204|304)/.test(text)
    : got.length >= end + 4 + Number(len);
}
