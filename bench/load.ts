/**
 * The bulk load of the interactive sections, in a process of its own. A keystroke's round trip
 * is timed in the bench's process; had that process also pumped the bulk streams it would time
 * its own event loop too — and unevenly, since a WebSocket tunnel's bulk costs its client far
 * more JavaScript (framing every chunk) than a TCP path's does. Here every path's bulk runs in
 * this child, as an operator's other application would, and the bench's process only times.
 *
 * Protocol: the parent writes one JSON line (`LoadSpec`; a tunnel token travels this way, never
 * on a command line) to stdin; the child opens `streams` uploads and as many downloads to the
 * bulk target and prints `flowing` once 64 MiB have moved (or 10 s have passed), then `moved N`
 * at its end. It stops when its stdin closes.
 * @module
 */
import { type Stream, tcpStream, wsStream } from "./streams.ts";

/** Where the load goes: the bulk target through one path. */
export type LoadTarget =
  | { tcp: { hostname: string; port: number } }
  | { ws: { url: string; token: string } };

/** What the parent asks of the child. */
export interface LoadSpec {
  to: LoadTarget;
  /** Uploads, and as many downloads. */
  streams: number;
}

const CHUNK = 64 << 10;

function open(to: LoadTarget): Promise<Stream> {
  return "tcp" in to ? tcpStream(to.tcp.hostname, to.tcp.port) : wsStream(to.ws.url, to.ws.token);
}

/** A running load: resolves `flowing` once the bulk is in full flow; `stop` ends it. */
export interface Load {
  flowing: Promise<void>;
  stop(): Promise<void>;
}

/** Starts the load of `spec` in a child process. */
export async function startLoad(spec: LoadSpec): Promise<Load> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", new URL(import.meta.url).pathname],
    stdin: "piped",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const writer = child.stdin.getWriter();
  await writer.write(new TextEncoder().encode(JSON.stringify(spec) + "\n"));
  const lines = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  const flowing = (async () => {
    let text = "";
    while (!text.includes("flowing\n")) {
      const r = await lines.read();
      if (r.done) throw new Error("the bulk load ended before its bulk was flowing");
      text += r.value;
    }
  })();
  return {
    flowing,
    async stop() {
      await writer.close().catch(() => {});
      const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
      await lines.cancel().catch(() => {});
      await child.status;
      clearTimeout(timer);
    },
  };
}

async function main(): Promise<void> {
  const input = Deno.stdin.readable.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  while (!text.includes("\n")) {
    const r = await input.read();
    if (r.done) return;
    text += r.value;
  }
  const spec = JSON.parse(text.slice(0, text.indexOf("\n"))) as LoadSpec;
  let stop = false;
  let moved = 0;
  const chunk = new Uint8Array(CHUNK).fill(0x5a);
  const streams: Stream[] = [];
  const loops: Promise<void>[] = [];
  for (let i = 0; i < spec.streams; i++) {
    const up = await open(spec.to);
    const down = await open(spec.to);
    streams.push(up, down);
    // The bulk target: 'U' then bytes to its sink; 'D' and a length for bytes from its source.
    await up.write(new Uint8Array([0x55]));
    const req = new Uint8Array(9);
    req[0] = 0x44;
    new DataView(req.buffer).setBigUint64(1, 1n << 50n);
    await down.write(req);
    loops.push(
      (async () => {
        while (!stop) {
          await up.write(chunk);
          moved += CHUNK;
        }
      })().catch(() => {}),
      (async () => {
        while (!stop) {
          const b = await down.read();
          if (!b) break;
          moved += b.byteLength;
        }
      })().catch(() => {}),
    );
  }
  const t0 = performance.now();
  while (moved < 64 << 20 && performance.now() - t0 < 10_000) {
    await new Promise((r) => setTimeout(r, 20));
  }
  console.log("flowing");
  // Until the parent closes our stdin.
  while (!(await input.read()).done) { /* nothing else comes */ }
  stop = true;
  for (const s of streams) s.close();
  await Promise.all(loops);
  console.log(`moved ${moved}`);
}

if (import.meta.main) await main();
