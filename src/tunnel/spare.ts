/**
 * A connection to the cloud dialed ahead for the CLI's next tunnel. Every connection the CLI
 * carries opens a WebSocket of its own to the cloud; over a real network the TCP handshake (and
 * TLS's, for an https cloud) is most of that open: two or three round trips before the upgrade
 * request can leave, for each connection a browser or a VMS makes through the CLI. While the
 * CLI is opening tunnels, it keeps one connection dialed ahead, so the next open starts with its
 * request. On a fast link the next spare is dialed once an open was answered (so it never
 * competes with that open for the cloud's attention: measured on loopback); once an answer took
 * `EAGER_ANSWER_MS` or more (a real network away), it is dialed as soon as the last one is taken,
 * so a burst of opens (a browser's six connections, a VMS reconnecting its cameras) never waits
 * for a handshake behind an answer. A spare is closed after `SPARE_IDLE_MS` unused: an idle CLI holds no connection, and a spare
 * never waits long enough to meet the cloud's head timeout (60 s). If a server or proxy between
 * closed it anyway, the request goes once more on a fresh dial (`ws_connect.ts`).
 * @module
 */
import { Deadlines } from "../shared/deadlines.ts";
import type { OpenedConn } from "../shared/transport/ws_connect.ts";

/** How long a spare connection may wait for an open before it is closed. */
export const SPARE_IDLE_MS = 20_000;
/** An open answered this slowly or slower makes the next spare dial as soon as one is taken. */
export const EAGER_ANSWER_MS = 10;
/** The longest an open waits for its client's first bytes (see `SpareDialer.earlyWaitMs`). */
export const EARLY_WAIT_MAX_MS = 50;

function closeQuietly(c: Deno.Conn): void {
  try {
    c.close();
  } catch { /* closed */ }
}

/** One connection dialed ahead (see the module comment). */
export class SpareDialer {
  #dial: () => Promise<Deno.Conn>;
  #deadlines: Deadlines;
  #spare: { conn: Promise<Deno.Conn>; cancel: () => void } | null = null;
  #closed = false;
  /** The last answer was slow: dial the next spare when one is taken, not after the answer. */
  #eager = false;
  #lastAnswerMs = 0;

  /** `dial` makes a connection (TCP, TLS on it for https); `deadlines` times out spares. */
  constructor(dial: () => Promise<Deno.Conn>, deadlines = new Deadlines(SPARE_IDLE_MS)) {
    this.#dial = dial;
    this.#deadlines = deadlines;
  }

  /** Whether a spare is held (dialed or being dialed). */
  get holding(): boolean {
    return this.#spare !== null;
  }

  /** A connection for one open: the spare when one is ready, else a fresh dial. */
  async take(): Promise<OpenedConn> {
    const spare = this.#spare;
    this.#spare = null;
    spare?.cancel();
    if (spare && this.#eager) this.refill();
    if (spare) {
      try {
        return { conn: await spare.conn, reused: true };
      } catch { /* its dial failed: dial again below, and report that one's error */ }
    }
    return { conn: await this.#dial(), reused: false };
  }

  /**
   * Dials the next spare unless one is held. Called once an open was answered, so the dial
   * never competes with the open it follows.
   */
  refill(): void {
    if (this.#closed || this.#spare) return;
    const conn = this.#dial();
    conn.catch(() => {
      // A failed dial is no spare; the next open dials for itself.
      if (this.#spare?.conn === conn) {
        this.#spare.cancel();
        this.#spare = null;
      }
    });
    const cancel = this.#deadlines.start(() => {
      if (this.#spare?.conn !== conn) return;
      this.#spare = null;
      conn.then(closeQuietly, () => {});
    });
    this.#spare = { conn, cancel };
  }

  /**
   * An open was answered after `ms`: decides when the next spare is dialed (see the module
   * comment), and dials it now unless one is held.
   */
  answered(ms: number): void {
    this.#eager = ms >= EAGER_ANSWER_MS;
    this.#lastAnswerMs = ms;
    this.refill();
  }

  /**
   * How long an open may wait for its client's first bytes to carry them in the request
   * (`early_data.ts`): on a fast link none (only bytes already there go); after a slow answer a
   * quarter of it, at most `EARLY_WAIT_MAX_MS` — a client that speaks first saves the whole
   * round trip, one that does not loses that much.
   */
  get earlyWaitMs(): number {
    return this.#eager ? Math.min(this.#lastAnswerMs / 4, EARLY_WAIT_MAX_MS) : 0;
  }

  /** Closes the spare; no more are dialed. */
  close(): void {
    this.#closed = true;
    const spare = this.#spare;
    this.#spare = null;
    spare?.cancel();
    spare?.conn.then(closeQuietly, () => {});
  }
}
