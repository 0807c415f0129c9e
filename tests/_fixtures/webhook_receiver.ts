/**
 * A webhook receiver on loopback for the alert tests: records every request (its event type, body
 * and signature) and answers 204, or 500 to the first `failFirst`.
 * @module
 */

/** A webhook receiver on loopback: records every request; answers 500 to the first `failFirst`. */
export class Receiver {
  readonly got: { type: string; body: string; signature: string | null; status: number }[] = [];
  failFirst = 0;
  #server: Deno.HttpServer<Deno.NetAddr>;
  #scheme: string;

  /** `tls`: the receiver's certificate and key (https), else plain http. */
  constructor(tls?: { cert: string; key: string }) {
    this.#scheme = tls ? "https" : "http";
    this.#server = Deno.serve(
      { hostname: "127.0.0.1", port: 0, onListen: () => {}, ...tls },
      async (req) => {
        const body = await req.text();
        const status = this.got.length < this.failFirst ? 500 : 204;
        this.got.push({
          type: JSON.parse(body).type,
          body,
          signature: req.headers.get("x-nanodems-signature"),
          status,
        });
        return new Response(null, { status });
      },
    );
  }

  /** Where it listens (`/hook`). */
  get url(): string {
    return `${this.#scheme}://127.0.0.1:${this.#server.addr.port}/hook`;
  }

  /** The deliveries answered 2xx, by event type. */
  delivered(type: string) {
    return this.got.filter((g) => g.type === type && g.status < 300);
  }

  /** The deliveries of `type` once there is one, else null (for `until`). */
  some(type: string) {
    const got = this.delivered(type);
    return got.length ? got : null;
  }

  /** Stops it. */
  close(): Promise<void> {
    return this.#server.shutdown();
  }
}
