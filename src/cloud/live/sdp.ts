/**
 * The part of a camera's SDP (RFC 4566) the live view needs: the first H.264 video track
 * (RFC 6184 `a=rtpmap:PT H264/90000`), its control URL resolved against the content base, and
 * the SPS/PPS from `sprop-parameter-sets` when the camera announces them.
 * @module
 */

/** An H.264 track of a camera. */
export interface VideoTrack {
  payloadType: number;
  controlUrl: string;
  /** SPS and PPS from the SDP, when given. */
  sps: Uint8Array | null;
  pps: Uint8Array | null;
}

/** Resolves an SDP control attribute against the base URL. */
function resolveControl(control: string | null, base: string): string {
  if (!control || control === "*") return base;
  if (/^rtsp:\/\//i.test(control)) return control;
  return base.endsWith("/") ? base + control : `${base}/${control}`;
}

/** The first H.264 video track, or null when there is none. */
export function parseSdp(sdp: string, base: string): VideoTrack | null {
  const sections = sdp.split(/\r?\n(?=m=)/);
  for (const s of sections.slice(1)) {
    const m = /^m=video \d+ \S+ ([\d ]+)/.exec(s);
    if (!m) continue;
    const lines = s.split(/\r?\n/);
    for (const pt of m[1].trim().split(/\s+/).map(Number)) {
      if (!lines.some((l) => new RegExp(`^a=rtpmap:${pt} H264/90000`, "i").test(l))) continue;
      const fmtp = lines.find((l) => l.startsWith(`a=fmtp:${pt} `)) ?? "";
      const sets = /sprop-parameter-sets=([^;\s]+)/.exec(fmtp)?.[1].split(",") ?? [];
      const decoded = sets.map((x) => {
        try {
          return Uint8Array.from(atob(x), (c) => c.charCodeAt(0));
        } catch {
          return null;
        }
      });
      const control = lines.find((l) => l.startsWith("a=control:"))?.slice(10).trim() ?? null;
      return {
        payloadType: pt,
        controlUrl: resolveControl(control, base),
        sps: decoded.find((n) => n && (n[0] & 0x1f) === 7) ?? null,
        pps: decoded.find((n) => n && (n[0] & 0x1f) === 8) ?? null,
      };
    }
  }
  return null;
}
