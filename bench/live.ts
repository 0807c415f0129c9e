/**
 * The live view section: time from opening `GET /api/live/{handle}` to the first picture's
 * bytes (the first media segment after the init segment), cold (the viewer opens the camera
 * session: tunnel, RTSP DESCRIBE/SETUP/PLAY, wait for a keyframe) and warm (another viewer
 * already watches: the joiner gets the pictures since the last keyframe at once). Measured at
 * the WebSocket client, so the browser's decode is not included.
 * @module
 */
// @ts-types="@types/ws"
import WebSocket from "ws";
import type { Buffer } from "node:buffer";

/** Milliseconds from connect to the first media segment; the socket stays open until `close`. */
export function firstPicture(
  url: string,
  token: string,
): Promise<{ ms: number; close: () => void }> {
  const started = performance.now();
  const ws = new WebSocket(url, { headers: { authorization: `Bearer ${token}` } });
  let binaries = 0;
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      ws.terminate();
      reject(new Error("no picture within 20 s"));
    }, 20_000);
    ws.on("message", (_data, isBinary) => {
      if (!isBinary || ++binaries !== 2) return; // the init segment, then the first picture
      clearTimeout(timer);
      resolve({ ms: performance.now() - started, close: () => ws.close() });
    });
    ws.on("error", (e) => {
      clearTimeout(timer);
      reject(e);
    });
    ws.on("unexpected-response", (_req, res) => {
      clearTimeout(timer);
      reject(new Error(`refused: ${res.statusCode}`));
    });
  });
}

/** What {@link pictureLag} measured: how much later pictures reached viewer B than viewer A. */
export interface PictureLag {
  /** B's arrival minus A's, ms, over the pictures both got. */
  p50: number;
  p95: number;
  /** Pictures both viewers got. */
  pictures: number;
}

/**
 * Two WebSocket viewers of one camera, `a` and `b` (e.g. on the node that plays it and on a
 * sibling that subscribes to it), watching together for `seconds`: for each picture both got
 * (matched by its last 32 bytes, the picture's own coded data), how much later it reached `b`.
 * The same pictures at the same time, so what the player does with them does not enter.
 */
export async function pictureLag(
  a: string,
  b: string,
  token: string,
  seconds: number,
): Promise<PictureLag> {
  const watch = (url: string) => {
    const seen = new Map<string, number>();
    const ws = new WebSocket(url, { headers: { authorization: `Bearer ${token}` } });
    let binaries = 0;
    const ready = new Promise<void>((resolve, reject) => {
      ws.on("message", (data, isBinary) => {
        const at = performance.now();
        if (!isBinary || ++binaries === 1) return; // the init segment
        const bytes = data as Buffer;
        seen.set(bytes.subarray(bytes.byteLength - 32).toString("hex"), at);
        resolve();
      });
      ws.on("error", reject);
      ws.on("unexpected-response", (_req, res) => reject(new Error(`refused: ${res.statusCode}`)));
    });
    return { seen, ready, close: () => ws.close() };
  };
  const va = watch(a);
  await va.ready;
  const vb = watch(b);
  try {
    await vb.ready;
    await new Promise((r) => setTimeout(r, seconds * 1000));
  } finally {
    va.close();
    vb.close();
  }
  const lags: number[] = [];
  for (const [key, at] of vb.seen) {
    const first = va.seen.get(key);
    if (first !== undefined) lags.push(at - first);
  }
  lags.sort((x, y) => x - y);
  return {
    p50: lags[Math.floor(lags.length / 2)] ?? NaN,
    p95: lags[Math.floor(lags.length * 0.95)] ?? NaN,
    pictures: lags.length,
  };
}

/** The median of some numbers. */
export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

/** `runs` cold and warm measurements; p50 of each. */
export async function timeToFirstPicture(
  url: string,
  token: string,
  runs: number,
): Promise<{ cold: number; warm: number }> {
  const cold: number[] = [];
  const warm: number[] = [];
  for (let i = 0; i < runs; i++) {
    const first = await firstPicture(url, token);
    cold.push(first.ms);
    const second = await firstPicture(url, token);
    warm.push(second.ms);
    second.close();
    first.close();
    // Let the camera session close before the next cold start.
    await new Promise((r) => setTimeout(r, 500));
  }
  return { cold: median(cold), warm: median(warm) };
}

/** What `viewers` WebSocket clients of `cameras` streams cost the cloud. */
export interface FanOutResult {
  /** Cloud CPU (its process tree) over the window, in cores. */
  cloudCores: number;
  /** What one viewer received, Mbit/s (≈ the camera's bitrate). */
  perViewerMbps: number;
  /** Viewers that got pictures during the window. */
  flowing: number;
}

/**
 * Opens `perCamera` viewers on each URL, waits until every one has a picture, then counts the
 * cloud's CPU seconds (`cpu()`) and the bytes viewers receive over `seconds`.
 */
export async function fanOut(
  urls: string[],
  perCamera: number,
  token: string,
  seconds: number,
  cpu: () => number,
): Promise<FanOutResult> {
  const sockets: WebSocket[] = [];
  const bytes: number[] = [];
  try {
    const open = (url: string) => {
      const i = bytes.push(0) - 1;
      const ws = new WebSocket(url, { headers: { authorization: `Bearer ${token}` } });
      sockets.push(ws);
      let binaries = 0;
      return new Promise<void>((resolve, reject) => {
        ws.on("message", (data, isBinary) => {
          if (!isBinary) return;
          bytes[i] += (data as Uint8Array).length;
          if (++binaries === 2) resolve();
        });
        ws.on("error", reject);
        ws.on("unexpected-response", (_q, res) => {
          let body = "";
          res.on("data", (c: Uint8Array) => (body += new TextDecoder().decode(c)));
          res.on("end", () => reject(new Error(`refused: ${res.statusCode} ${body}`)));
        });
      });
    };
    // One camera session at a time (as operators open them), then the other viewers at once.
    for (const url of urls) await open(url);
    await Promise.all(
      urls.flatMap((url) => Array.from({ length: perCamera - 1 }, () => open(url))),
    );
    const before = [...bytes];
    const c0 = cpu();
    const t0 = performance.now();
    await new Promise((r) => setTimeout(r, seconds * 1000));
    const elapsed = (performance.now() - t0) / 1000;
    const c1 = cpu();
    const got = bytes.map((b, i) => b - before[i]);
    return {
      cloudCores: (c1 - c0) / elapsed,
      perViewerMbps: median(got) * 8 / elapsed / 1e6,
      flowing: got.filter((b) => b > 0).length,
    };
  } finally {
    for (const ws of sockets) ws.terminate();
  }
}

/** p50 and p95 of some numbers, and how many. */
function spread(xs: number[]): { p50: number; p95: number; frames: number } {
  const s = [...xs].sort((a, b) => a - b);
  return {
    p50: s[Math.floor(s.length / 2)],
    p95: s[Math.floor(s.length * 0.95)],
    frames: s.length,
  };
}

/**
 * In the page, for each presented frame over `seconds` (`requestVideoFrameCallback`): how long
 * after the cloud received it the browser showed it (presentation time − (the stream's origin +
 * the frame's media time)); and, with `clock`, glass-to-glass: the display time minus the capture
 * time the camera burned into the picture (rtsp_server.py `--pattern clock`: 32 blocks of 16 px
 * carrying the epoch ms modulo 2^32, then the same blocks inverted — a frame whose two copies
 * disagree is not counted).
 */
function measureScript(seconds: number, clock: boolean): string {
  return `new Promise((resolve) => {
    const v = document.querySelector("video[data-live]");
    const origin = Number(v.dataset.origin);
    const cloud = [], glass = [];
    let unreadable = 0;
    const canvas = document.createElement("canvas");
    canvas.width = v.videoWidth; canvas.height = v.videoHeight;
    const g = canvas.getContext("2d", { willReadFrequently: true });
    const captured = () => {
      g.drawImage(v, 0, 0);
      const px = g.getImageData(0, 0, 32 + 16 * 16, 80).data;
      const bit = (r, c) => px[((16 + r * 16 + 8) * (32 + 256) + 32 + c * 16 + 8) * 4] > 128 ? 1 : 0;
      let ms = 0;
      for (let i = 0; i < 32; i++) {
        const r = i >> 4, c = i & 15, b = bit(r, c);
        if (b === bit(r + 2, c)) return null;
        ms = ms * 2 + b;
      }
      const now = Date.now();
      return now - ((now - ms) % 4294967296 + 4294967296) % 4294967296;
    };
    const end = performance.now() + ${seconds * 1000};
    const tick = (_now, m) => {
      cloud.push(performance.timeOrigin + m.presentationTime - (origin + m.mediaTime * 1000));
      if (${clock}) {
        const t = captured();
        if (t === null) unreadable++;
        else glass.push(performance.timeOrigin + m.expectedDisplayTime - t);
      }
      if (performance.now() < end) v.requestVideoFrameCallback(tick);
      else resolve({ cloud, glass, unreadable });
    };
    v.requestVideoFrameCallback(tick);
  })`;
}

/** What {@link browserLatency} measured. */
export interface BrowserLatency {
  /** Cloud receipt → presented, ms. */
  cloud: { p50: number; p95: number; frames: number };
  /** Capture (burned in) → displayed, ms; only with a clock camera. */
  glass?: { p50: number; p95: number; frames: number; unreadable: number };
}

/**
 * In headless Chromium signed in with `cookie`, plays `pageUrl` (a /live page) for `seconds` and
 * measures each presented frame (see {@link measureScript}); `clock` when the camera burns its
 * capture time into the picture.
 */
export async function browserLatency(
  pageUrl: string,
  cookie: string,
  seconds: number,
  clock = false,
): Promise<BrowserLatency> {
  const { chromium } = await import("playwright-core");
  const browser = await chromium.launch({
    executablePath: Deno.env.get("CHROMIUM_PATH") ?? "/usr/bin/chromium",
    args: ["--no-sandbox", "--disable-dev-shm-usage"],
  });
  try {
    const context = await browser.newContext();
    const eq = cookie.indexOf("=");
    await context.addCookies([{
      name: cookie.slice(0, eq),
      value: cookie.slice(eq + 1),
      url: new URL(pageUrl).origin,
    }]);
    const page = await context.newPage();
    await page.goto(pageUrl);
    // Up to a minute: the player's own retries (1, 2, 4, 8, 15 s) fit in it twice over. When it
    // does not play, the error says what the player showed (its state, why, the status line).
    await page.waitForSelector("video[data-state=playing][data-origin]", { timeout: 60_000 })
      .catch(async (e) => {
        const shown = await page.evaluate(`(() => {
          const v = document.querySelector("video[data-live]");
          const s = v?.closest("figure")?.querySelector(".live-status");
          return JSON.stringify({ ...v?.dataset, status: s?.textContent });
        })()`).catch(() => "(the page did not answer)");
        throw new Error(`the player did not play within 60 s: ${shown} (${(e as Error).message})`);
      });
    await page.waitForFunction(`document.querySelector("video[data-live]").currentTime > 0`);
    await new Promise((r) => setTimeout(r, 1000)); // past the start-up catch-up
    const m = await page.evaluate(measureScript(seconds, clock)) as {
      cloud: number[];
      glass: number[];
      unreadable: number;
    };
    return {
      cloud: spread(m.cloud),
      glass: clock ? { ...spread(m.glass), unreadable: m.unreadable } : undefined,
    };
  } finally {
    await browser.close();
  }
}
