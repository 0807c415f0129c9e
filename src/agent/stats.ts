/**
 * The agent's live counters, sent on every heartbeat: active streams, bytes each way, tunnels
 * opened. ("up" is device → cloud, "down" is cloud → device.) Bytes and tunnels are totals of
 * one UTC day: they restart from 0 when the day changes, and `stats_file.ts` keeps them across
 * an agent restart, so the cloud can turn successive heartbeats into deltas.
 * @module
 */

/** The UTC day (YYYY-MM-DD) of an epoch-milliseconds time. */
export function utcDay(ms: number): string {
  return new Date(ms).toISOString().slice(0, 10);
}

/** What the heartbeat carries. */
export interface StatsSnapshot {
  activeStreams: number;
  bytesUp: number;
  bytesDown: number;
  tunnelsOpened: number;
  /** The UTC day the byte and tunnel totals belong to. */
  day: string;
}

/** Live counters of one agent process. */
export class Stats {
  activeStreams = 0;
  bytesUp = 0;
  bytesDown = 0;
  tunnelsOpened = 0;
  /** The UTC day the totals belong to. */
  day: string;

  /** Starts empty for the current day; `now` is injectable for tests. */
  constructor(readonly now: () => number = Date.now) {
    this.day = utcDay(now());
  }

  /** Starts a new day's totals when the UTC day has changed since the last call. */
  rollover(): void {
    const today = utcDay(this.now());
    if (today === this.day) return;
    this.day = today;
    this.bytesUp = 0;
    this.bytesDown = 0;
    this.tunnelsOpened = 0;
  }

  /** Takes persisted totals of the same day (a restart keeps today's numbers). */
  restore(saved: { day: string; bytesUp: number; bytesDown: number; tunnelsOpened: number }): void {
    this.rollover();
    if (saved.day !== this.day) return;
    this.bytesUp += saved.bytesUp;
    this.bytesDown += saved.bytesDown;
    this.tunnelsOpened += saved.tunnelsOpened;
  }

  /** The counters as a heartbeat body. */
  snapshot(): StatsSnapshot {
    this.rollover();
    return {
      activeStreams: this.activeStreams,
      bytesUp: this.bytesUp,
      bytesDown: this.bytesDown,
      tunnelsOpened: this.tunnelsOpened,
      day: this.day,
    };
  }
}
