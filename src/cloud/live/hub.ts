/**
 * Live view fan-out: one camera session per (handle, stream path) on this node feeds every
 * viewer of it (a sibling node subscribed to it counts as one viewer: interrelay/live_feed.ts).
 * The first viewer opens the session; the last one leaving closes it. A viewer joining gets the
 * init segment and the pictures since the last keyframe (so it starts at once, on a decodable
 * picture), with the sound from that keyframe's instant on, even sound that came out before it; a
 * viewer whose socket buffers more than a bound skips to the next keyframe instead of
 * queueing without end.
 * @module
 */
import { TIMESCALE } from "./fmp4.ts";
import type { Init, Segment } from "./remuxer.ts";

/** One viewer's socket. */
export interface Viewer {
  /** Sends the init segment (once, before any media segment). */
  init(i: Init): void;
  /**
   * Sends a media segment (its bytes; a sibling node's forwarder also passes on whether it is a
   * keyframe and its times, so the feed there starts its viewers on a keyframe too).
   */
  send(s: Segment): void;
  /** Bytes queued and not yet sent. */
  buffered(): number;
  /** Ends the viewer with a reason it can show. */
  close(reason: string): void;
  /**
   * A viewer that paces its camera session (a clip saved as fast as the camera sends): a
   * promise that settles once it takes more, or null when it takes more now. Only a viewer
   * alone on its session paces it; the live view's viewers skip pictures instead.
   */
  hold?(): Promise<void> | null;
}

/** A running camera session, as the hub drives it. */
export interface FeedSource {
  /** Resolves with a reason when the session ends. */
  ended: Promise<string>;
  /** The camera sends its recording faster than it plays (asked so, and it said yes). */
  fast?: boolean;
  close(): void;
}

/** What a feed's opener gets to deliver into. */
export interface FeedSink {
  init(i: Init): void;
  segment(s: Segment): void;
  /** A promise while a viewer holds the session (read no more until it settles); else null. */
  hold?(): Promise<void> | null;
}

/** A viewer queueing more than this skips pictures until the next keyframe. */
export const SLOW_VIEWER_BYTES = 1 << 20;
/** Pictures kept since the last keyframe for joiners are bounded by this many bytes. */
const MAX_GOP_BYTES = 8 << 20;

interface ViewerState {
  waitingKey: boolean;
  gotInit: boolean;
  /** The decode time of the last sound segment it got (-1: none), so none is sent twice. */
  soundAt: number;
}

/** One camera session and its viewers. */
export class Feed {
  #viewers = new Map<Viewer, ViewerState>();
  #init: Init | null = null;
  #gop: Segment[] = [];
  #gopBytes = 0;
  #source: Promise<FeedSource>;
  #closed = false;
  #onEmpty: () => void;
  #originMs: number | null = null;
  #fast = false;
  /** Pictures a slow viewer skipped, over the feed's life (for tests and logs). */
  skipped = 0;
  /** How many viewers are attached or about to be. */
  refs = 0;

  /** Opens the camera session with `open`; `onEmpty` runs once when the feed ends. */
  constructor(open: (sink: FeedSink) => Promise<FeedSource>, onEmpty: () => void) {
    this.#onEmpty = onEmpty;
    this.#source = open({
      init: (i) => this.#onInit(i),
      segment: (s) => this.#onSegment(s),
      // Only a viewer alone on the session may hold it: never one among others it would stall.
      hold: () =>
        this.#viewers.size === 1 ? this.#viewers.keys().next().value!.hold?.() ?? null : null,
    });
    this.#source.then((s) => {
      this.#fast = s.fast === true;
      return s.ended.then((reason) => {
        this.#end(reason);
      });
    }).catch(() => this.#end("camera session failed"));
  }

  /** Resolves once the camera plays (rejects with the opener's error). */
  ready(): Promise<unknown> {
    return this.#source;
  }

  /** The init segment, once the first keyframe arrived. */
  get init(): Init | null {
    return this.#init;
  }

  /**
   * When decode time 0 would have reached this node (ms, the opener's clock): the earliest
   * `arrivedMs − decodeTime` seen, so a page can tell how long after its arrival a picture is
   * shown. Null until a segment carried its arrival time.
   */
  get originMs(): number | null {
    return this.#originMs;
  }

  /** The camera sends this session's recording faster than it plays (once it plays). */
  get fast(): boolean {
    return this.#fast;
  }

  /** How many viewers are attached. */
  get viewers(): number {
    return this.#viewers.size;
  }

  /** Attaches a viewer: it gets the init segment and the current GOP now. */
  attach(v: Viewer): void {
    if (this.#closed) return v.close("the camera session ended");
    const st: ViewerState = { waitingKey: true, gotInit: false, soundAt: -1 };
    this.#viewers.set(v, st);
    if (this.#init) {
      v.init(this.#init);
      st.gotInit = true;
      for (const s of this.#gop) this.#deliver(v, st, s);
    }
  }

  /** Detaches a viewer; the feed closes when none is left. */
  detach(v: Viewer): void {
    this.#viewers.delete(v);
    this.release();
  }

  /** Drops one reference taken before attaching. */
  release(): void {
    this.refs = Math.max(0, this.refs - 1);
    if (this.refs === 0) this.#end("no viewers");
  }

  #onInit(i: Init): void {
    this.#init = i;
    for (const [v, st] of this.#viewers) {
      if (!st.gotInit) {
        v.init(i);
        st.gotInit = true;
      }
    }
  }

  #onSegment(s: Segment): void {
    if (s.arrivedMs !== undefined) {
      const origin = s.arrivedMs - s.decodeTime / (TIMESCALE / 1000);
      if (this.#originMs === null || origin < this.#originMs) this.#originMs = origin;
    }
    if (!s.keyframe) {
      this.#keep(s);
      for (const [v, st] of this.#viewers) this.#deliver(v, st, s);
      return;
    }
    // Sound for this picture's instant and after that came before it (a picture is sent once
    // the next one tells its duration; a recording's sound runs minutes ahead) starts with it:
    // kept for joiners behind it, and sent after it to the viewers that waited for a keyframe.
    const ahead = this.#gop.filter((x) => x.audio && x.decodeTime >= s.decodeTime);
    this.#gop = [];
    this.#gopBytes = 0;
    this.#keep(s);
    for (const a of ahead) this.#keep(a);
    for (const [v, st] of this.#viewers) {
      this.#deliver(v, st, s);
      for (const a of ahead) this.#deliver(v, st, a);
    }
  }

  /** Keeps a segment for joiners, within MAX_GOP_BYTES. */
  #keep(s: Segment): void {
    if (this.#gopBytes + s.bytes.length > MAX_GOP_BYTES) return;
    this.#gop.push(s);
    this.#gopBytes += s.bytes.length;
  }

  #deliver(v: Viewer, st: ViewerState, s: Segment): void {
    if (!st.gotInit) return;
    if (v.buffered() > SLOW_VIEWER_BYTES) {
      st.waitingKey = true;
      this.skipped++;
      return;
    }
    if (st.waitingKey && !s.keyframe) {
      this.skipped++;
      return;
    }
    if (s.audio) {
      if (s.decodeTime <= st.soundAt) return; // sent before it waited for a keyframe
      st.soundAt = s.decodeTime;
    }
    st.waitingKey = false;
    v.send(s);
  }

  #end(reason: string): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#onEmpty();
    this.#source.then((s) => s.close()).catch(() => {});
    for (const v of this.#viewers.keys()) {
      try {
        v.close(reason);
      } catch { /* gone */ }
    }
    this.#viewers.clear();
  }
}

/** How long a failed camera open is remembered for the player's "why" (live readiness). */
export const FAILURE_MEMORY_MS = 60_000;
/** Failed opens remembered at most (the oldest go first). */
const MAX_FAILURES = 1_000;

/** The feeds of this node, by key (handle and stream path). */
export class LiveHub {
  #feeds = new Map<string, Feed>();
  /** Why the last open of a key failed, and when; a key whose camera played is not here. */
  #failures = new Map<string, { at: number; error: unknown }>();

  /** How many camera sessions are open. */
  get size(): number {
    return this.#feeds.size;
  }

  /**
   * Takes a reference on the feed for `key`, opening it with `open` when there is none; resolves
   * once the camera plays. Call `attach` then `detach`, or `release` when not attaching.
   */
  async acquire(key: string, open: (sink: FeedSink) => Promise<FeedSource>): Promise<Feed> {
    let f = this.#feeds.get(key);
    if (!f) {
      const feed: Feed = new Feed(open, () => {
        if (this.#feeds.get(key) === feed) this.#feeds.delete(key);
      });
      f = feed;
      this.#feeds.set(key, f);
    }
    f.refs++;
    try {
      await f.ready();
    } catch (e) {
      f.release();
      this.#failures.delete(key);
      this.#failures.set(key, { at: Date.now(), error: e });
      if (this.#failures.size > MAX_FAILURES) {
        this.#failures.delete(this.#failures.keys().next().value!);
      }
      throw e;
    }
    this.#failures.delete(key);
    return f;
  }

  /**
   * Why the last open of `key` failed (the camera's refusal: 404 for the path, credentials), if
   * it failed within {@linkcode FAILURE_MEMORY_MS} and nothing played since; else null. A
   * browser never sees why its upgrade was refused, so the player asks (the live readiness GET).
   */
  recentFailure(key: string, now = Date.now()): unknown | null {
    const f = this.#failures.get(key);
    if (!f) return null;
    if (now - f.at > FAILURE_MEMORY_MS) {
      this.#failures.delete(key);
      return null;
    }
    return f.error;
  }
}
