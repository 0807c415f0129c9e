/**
 * A camera's sound setting (`liveSound`, where listening is not allowed) as the paths that play it
 * follow it: how often a playing session reads it again, and the words its viewers are given when
 * it changed. The live view (live_ws.ts) and the RTSP gateway (rtsp/session.ts) share them.
 * @module
 */

/**
 * How often a playing camera session reads its device's sound setting again: turned off (or on)
 * by an admin on any node, the session ends with {@link soundChanged} within this, and its viewers
 * reconnect to one without (or with) the sound. A sound track cannot just stop inside a session:
 * the browser plays only as far as both tracks reach.
 */
export const SOUND_CHECK_MS = 5_000;

/** Why a camera session ended when its sound setting changed (what its viewers show). */
export function soundChanged(on: boolean): string {
  return `the camera's sound was turned ${on ? "on" : "off"} by an admin`;
}
