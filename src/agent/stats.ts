/**
 * The agent's live counters, sent on every heartbeat: active streams, bytes each way, tunnels
 * opened. ("up" is device → cloud, "down" is cloud → device.)
 * @module
 */

/** Live counters of one agent process. */
export class Stats {
  activeStreams = 0;
  bytesUp = 0;
  bytesDown = 0;
  tunnelsOpened = 0;
  /** The counters as a heartbeat body. */
  snapshot(): { activeStreams: number; bytesUp: number; bytesDown: number; tunnelsOpened: number } {
    return {
      activeStreams: this.activeStreams,
      bytesUp: this.bytesUp,
      bytesDown: this.bytesDown,
      tunnelsOpened: this.tunnelsOpened,
    };
  }
}
