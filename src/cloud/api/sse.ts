/**
 * A server-sent event stream that polls: every `everyMs` a step reads what changed (from the
 * store, so changes made on another node arrive the same way) and sends events; a comment line
 * keeps proxies from closing an idle stream; the stream ends when the client goes away or the
 * step stops it. The CLI's plan feed (access/credential_events.ts) and the console's inbox feed
 * (events/stream.ts) are both this with a different step.
 * @module
 */

/** What a step may do. */
export interface SseStep {
  /** Sends one event (`data` as JSON). */
  send(event: string, data: unknown): void;
  /** Ends the stream. */
  stop(): void;
  /** How many steps ran before this one. */
  tick: number;
}

/** The `text/event-stream` response running `step` every `everyMs` (default 1 s). */
export function pollingSse(o: {
  step: (s: SseStep) => Promise<void>;
  /** Runs once before the first step (e.g. to remember where the client starts). */
  init?: () => Promise<void>;
  signal?: AbortSignal;
  everyMs?: number;
  /** A comment line this often (default 15 s). */
  keepaliveMs?: number;
}): Response {
  const enc = new TextEncoder();
  let stopped = false;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const stream = new ReadableStream<Uint8Array>({
    async start(controller) {
      const write = (text: string) => {
        if (stopped) return;
        try {
          controller.enqueue(enc.encode(text));
        } catch {
          stop();
        }
      };
      const stop = () => {
        if (stopped) return;
        stopped = true;
        clearTimeout(timer);
        try {
          controller.close();
        } catch { /* already closed */ }
      };
      o.signal?.addEventListener("abort", stop, { once: true });
      const every = o.everyMs ?? 1_000;
      const keepEvery = Math.max(1, Math.round((o.keepaliveMs ?? 15_000) / every));
      let tick = 0;
      const send = (event: string, data: unknown) =>
        write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
      const run = async () => {
        if (stopped) return;
        try {
          await o.step({ send, stop, tick });
          if (tick > 0 && tick % keepEvery === 0) write(": keepalive\n\n");
        } catch {
          // A store hiccup: try again on the next tick.
        }
        tick++;
        if (!stopped) timer = setTimeout(run, every);
      };
      write(": connected\n\n");
      await o.init?.().catch(() => {});
      run();
    },
    cancel() {
      stopped = true;
      clearTimeout(timer);
    },
  });
  return new Response(stream, {
    headers: {
      "content-type": "text/event-stream; charset=utf-8",
      "cache-control": "no-store",
      "x-accel-buffering": "no",
    },
  });
}
