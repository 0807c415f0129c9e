/**
 * The LAN devices the soak's agents reach on loopback: a TCP echo (from the e2e fixture), a
 * small HTTP device whose `/data/N` answers N deterministic bytes (so a proxied body can be
 * checked exactly), and an RTSP camera — GStreamer's RTSP server from the RTSP fixture, or, when
 * GStreamer is missing, a fake device that answers every RTSP request with 200 (then RTSP
 * sessions are raw OPTIONS exchanges instead of ffprobe decodes).
 * @module
 */
import { echoServer } from "../_fixtures/stack.ts";
import { fakeRtspDevice, startCamera } from "../_fixtures/rtsp.ts";

/** The body `/data/N` answers: N bytes of a repeating, position-dependent pattern. */
export function dataBody(n: number): string {
  let s = "";
  for (let i = 0; s.length < n; i++) s += `soak-${i};`;
  return s.slice(0, n);
}

/** A running HTTP device. */
export interface HttpDevice {
  port: number;
  /** Requests it answered. */
  served: () => number;
  close(): Promise<void>;
}

/** Starts the HTTP device on 127.0.0.1 (port 0). */
export function httpDevice(): HttpDevice {
  let served = 0;
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    (req) => {
      served++;
      const m = /^\/data\/(\d{1,7})$/.exec(new URL(req.url).pathname);
      if (!m) return new Response("soak device\n", { headers: { "content-type": "text/plain" } });
      return new Response(dataBody(Number(m[1])), { headers: { "content-type": "text/plain" } });
    },
  );
  return {
    port: server.addr.port,
    served: () => served,
    close: () => server.shutdown(),
  };
}

/** The RTSP device: a real camera or the fake one, with a note saying which. */
export interface RtspDevice {
  port: number;
  /** True for GStreamer's camera (players decode video), false for the fake device. */
  real: boolean;
  /** The stream path on the device. */
  path: string;
  /** Why the fake one is used, when it is. */
  note?: string;
  close(): Promise<void>;
}

/** Starts the GStreamer camera, or the fake RTSP device when the camera cannot start. */
export async function rtspDevice(): Promise<RtspDevice> {
  try {
    const cam = await startCamera();
    return { port: cam.port, real: true, path: cam.path, close: cam.close };
  } catch (e) {
    const fake = fakeRtspDevice();
    return { ...fake, real: false, path: "/live/cam1", note: `camera fixture unavailable: ${e}` };
  }
}

/** Every target the soak needs, started together. */
export async function startTargets() {
  const echo = await echoServer();
  const http = httpDevice();
  const rtsp = await rtspDevice();
  return {
    echo,
    http,
    rtsp,
    async close() {
      await echo.close();
      await http.close();
      await rtsp.close();
    },
  };
}

/** What {@link startTargets} returns. */
export type Targets = Awaited<ReturnType<typeof startTargets>>;
