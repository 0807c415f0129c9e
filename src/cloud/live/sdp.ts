/**
 * The part of a camera's SDP (RFC 4566) the live view needs: the first H.264 video track
 * (RFC 6184 `a=rtpmap:PT H264/90000`), its control URL resolved against the content base, and
 * the SPS/PPS from `sprop-parameter-sets` when the camera announces them; and the first AAC sound
 * track (RFC 3640 `MPEG4-GENERIC` with its `config`), which the live view plays beside the picture.
 * Other sound (G.711, G.726, LATM) is not asked for: browsers' Media Source Extensions take AAC.
 * @module
 */
import type { AuLayout } from "./rtp_aac.ts";

/** An H.264 track of a camera. */
export interface VideoTrack {
  payloadType: number;
  controlUrl: string;
  /** SPS and PPS from the SDP, when given. */
  sps: Uint8Array | null;
  pps: Uint8Array | null;
}

/** An AAC sound track of a camera (RFC 3640). */
export interface AudioTrack extends AuLayout {
  payloadType: number;
  controlUrl: string;
  /** The RTP clock: the sample rate. */
  rate: number;
  channels: number;
  /** The AudioSpecificConfig (ISO/IEC 14496-3) the decoder needs. */
  config: Uint8Array;
  /** What MSE is asked about (`mp4a.40.2` for AAC-LC). */
  codec: string;
}

/** Resolves an SDP control attribute against the base URL. */
function resolveControl(control: string | null, base: string): string {
  if (!control || control === "*") return base;
  if (/^rtsp:\/\//i.test(control)) return control;
  return base.endsWith("/") ? base + control : `${base}/${control}`;
}

/** The media sections of an SDP, each with its payload types and lines. */
function sections(sdp: string, kind: string): { pts: number[]; lines: string[] }[] {
  const out: { pts: number[]; lines: string[] }[] = [];
  for (const s of sdp.split(/\r?\n(?=m=)/).slice(1)) {
    const m = new RegExp(`^m=${kind} \\d+ \\S+ ([\\d ]+)`).exec(s);
    if (m) out.push({ pts: m[1].trim().split(/\s+/).map(Number), lines: s.split(/\r?\n/) });
  }
  return out;
}

/** The first AAC (MPEG4-GENERIC, AAC-hbr or -lbr) sound track, or null when there is none. */
export function parseAudioSdp(sdp: string, base: string): AudioTrack | null {
  for (const { pts, lines } of sections(sdp, "audio")) {
    for (const pt of pts) {
      const rtpmap = new RegExp(`^a=rtpmap:${pt} MPEG4-GENERIC/(\\d+)(?:/(\\d+))?`, "i");
      const map = lines.map((l) => rtpmap.exec(l)).find((m) => m);
      if (!map) continue;
      const fmtp = lines.find((l) => l.startsWith(`a=fmtp:${pt} `)) ?? "";
      const params = new Map(
        fmtp.slice(fmtp.indexOf(" ") + 1).split(";").map((kv) => kv.trim().split("="))
          .filter((kv) => kv.length === 2).map(([k, v]) => [k.toLowerCase(), v.trim()]),
      );
      const hex = params.get("config") ?? "";
      const sizeLength = Number(params.get("sizelength"));
      if (!/^(?:[0-9a-f]{2}){1,64}$/i.test(hex) || !(sizeLength > 0 && sizeLength <= 16)) continue;
      if (!/^aac-(?:hbr|lbr)$/i.test(params.get("mode") ?? "")) continue;
      const config = Uint8Array.from(hex.match(/../g)!, (h) => parseInt(h, 16));
      const objectType = config[0] >> 3;
      const rate = Number(map[1]);
      const channels = Number(map[2] ?? ((config[1] ?? 0) >> 3) & 0x0f) || 1;
      if (!objectType || !(rate > 0 && rate < 65536)) continue;
      const control = lines.find((l) => l.startsWith("a=control:"))?.slice(10).trim() ?? null;
      return {
        payloadType: pt,
        controlUrl: resolveControl(control, base),
        rate,
        channels,
        config,
        codec: `mp4a.40.${objectType}`,
        sizeLength,
        indexLength: Number(params.get("indexlength") ?? 0) || 0,
        indexDeltaLength: Number(params.get("indexdeltalength") ?? 0) || 0,
      };
    }
  }
  return null;
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
