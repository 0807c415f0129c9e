/**
 * The part of a camera's SDP (RFC 4566) the live view needs: the first H.264 or H.265 video track
 * (RFC 6184 `a=rtpmap:PT H264/90000`, RFC 7798 `H265/90000`), its control URL resolved against
 * the content base, and its parameter sets when the camera announces them (H.264's
 * `sprop-parameter-sets`, H.265's `sprop-vps`, `sprop-sps`, `sprop-pps`); and the sound track the
 * live view plays beside the picture: the first AAC one (RFC 3640 `MPEG4-GENERIC` with its
 * `config`), else the first G.711 one (`PCMU`/`PCMA`, RFC 3551: static payload types 0 and 8 need
 * no rtpmap), which the cloud turns into FLAC (g711_flac.ts). Other sound (G.726, LATM) is not
 * asked for.
 * @module
 */
import type { VideoCodec } from "./nal_format.ts";
import type { AuLayout } from "./rtp_aac.ts";

/** An H.264 or H.265 track of a camera. */
export interface VideoTrack {
  codec: VideoCodec;
  payloadType: number;
  controlUrl: string;
  /** The parameter sets from the SDP, when given (`vps`: H.265's only). */
  vps: Uint8Array | null;
  sps: Uint8Array | null;
  pps: Uint8Array | null;
  /** Why the live view cannot play this track as the camera sends it (null: it can). */
  unplayable: string | null;
}

/** Base64 NAL units (a comma-separated list); one that does not decode is left out. */
function base64Nals(list: string | undefined): Uint8Array[] {
  return (list ?? "").split(",").filter((x) => x).flatMap((x) => {
    try {
      const n = Uint8Array.from(atob(x), (c) => c.charCodeAt(0));
      return n.length ? [n] : [];
    } catch {
      return [];
    }
  });
}

/** What every sound track of a camera says. */
interface SoundTrack {
  payloadType: number;
  controlUrl: string;
  /** The RTP clock: the sample rate. */
  rate: number;
  channels: number;
  /** AAC's AudioSpecificConfig (ISO/IEC 14496-3) the decoder needs; empty for G.711. */
  config: Uint8Array;
  /** What MSE is asked about: `mp4a.40.2` for AAC-LC, `flac` for G.711 made FLAC. */
  codec: string;
}

/** An AAC sound track (RFC 3640) and how its packets lay out their AU headers. */
export interface AacTrack extends SoundTrack, AuLayout {
  encoding: "aac";
}

/** A G.711 sound track (PCMU or PCMA), which has no AU layout. */
export interface G711Track extends SoundTrack {
  encoding: "pcmu" | "pcma";
}

/** A sound track of a camera: AAC or G.711, told apart by its `encoding`. */
export type AudioTrack = AacTrack | G711Track;

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

/** The section's control URL. */
function controlOf(lines: string[], base: string): string {
  return resolveControl(
    lines.find((l) => l.startsWith("a=control:"))?.slice(10).trim() ?? null,
    base,
  );
}

/** Payload type `pt` of a section as AAC (MPEG4-GENERIC, AAC-hbr or -lbr), or null. */
function aacTrack(pt: number, lines: string[], base: string): AacTrack | null {
  const rtpmap = new RegExp(`^a=rtpmap:${pt} MPEG4-GENERIC/(\\d+)(?:/(\\d+))?`, "i");
  const map = lines.map((l) => rtpmap.exec(l)).find((m) => m);
  if (!map) return null;
  const fmtp = lines.find((l) => l.startsWith(`a=fmtp:${pt} `)) ?? "";
  const params = new Map(
    fmtp.slice(fmtp.indexOf(" ") + 1).split(";").map((kv) => kv.trim().split("="))
      .filter((kv) => kv.length === 2).map(([k, v]) => [k.toLowerCase(), v.trim()]),
  );
  const hex = params.get("config") ?? "";
  const sizeLength = Number(params.get("sizelength"));
  if (!/^(?:[0-9a-f]{2}){1,64}$/i.test(hex) || !(sizeLength > 0 && sizeLength <= 16)) return null;
  if (!/^aac-(?:hbr|lbr)$/i.test(params.get("mode") ?? "")) return null;
  const config = Uint8Array.from(hex.match(/../g)!, (h) => parseInt(h, 16));
  const objectType = config[0] >> 3;
  const rate = Number(map[1]);
  const channels = Number(map[2] ?? ((config[1] ?? 0) >> 3) & 0x0f) || 1;
  if (!objectType || !(rate > 0 && rate < 65536)) return null;
  return {
    encoding: "aac",
    payloadType: pt,
    controlUrl: controlOf(lines, base),
    rate,
    channels,
    config,
    codec: `mp4a.40.${objectType}`,
    sizeLength,
    indexLength: Number(params.get("indexlength") ?? 0) || 0,
    indexDeltaLength: Number(params.get("indexdeltalength") ?? 0) || 0,
  };
}

/** Payload type `pt` of a section as G.711 (PCMU or PCMA, mono or stereo), or null. */
function g711Track(pt: number, lines: string[], base: string): G711Track | null {
  const rtpmap = new RegExp(`^a=rtpmap:${pt} (PCMU|PCMA)/(\\d+)(?:/(\\d+))?\\s*$`, "i");
  const map = lines.map((l) => rtpmap.exec(l)).find((m) => m);
  const anyMap = lines.some((l) => l.startsWith(`a=rtpmap:${pt} `));
  // Static payload types (RFC 3551): 0 is PCMU/8000, 8 is PCMA/8000, when no rtpmap says else.
  const [name, rate, channels] = map
    ? [map[1].toUpperCase(), Number(map[2]), Number(map[3] ?? 1)]
    : !anyMap && (pt === 0 || pt === 8)
    ? [pt === 0 ? "PCMU" : "PCMA", 8000, 1]
    : [null, 0, 0];
  if (!name || !(rate >= 8000 && rate <= 48000) || !(channels >= 1 && channels <= 2)) return null;
  return {
    encoding: name === "PCMU" ? "pcmu" : "pcma",
    payloadType: pt,
    controlUrl: controlOf(lines, base),
    rate,
    channels,
    config: new Uint8Array(0),
    codec: "flac",
  };
}

/**
 * The sound track to play: the first AAC one, else the first G.711 one; null when there is
 * neither.
 */
export function parseAudioSdp(sdp: string, base: string): AudioTrack | null {
  const found = sections(sdp, "audio").flatMap(({ pts, lines }) =>
    pts.map((pt) => aacTrack(pt, lines, base) ?? g711Track(pt, lines, base))
  ).filter((t) => t !== null);
  return found.find((t) => t.encoding === "aac") ?? found[0] ?? null;
}

/**
 * The video track the live view plays, or null when the camera offers no H.264 or H.265 track.
 * A camera offering both gets its H.264 one, which every browser plays, whichever it lists first;
 * then a playable H.265 track before one refused in words.
 */
export function parseSdp(sdp: string, base: string): VideoTrack | null {
  const found = videoTracks(sdp, base);
  return found.find((t) => t.codec === "h264") ?? found.find((t) => !t.unplayable) ??
    found[0] ?? null;
}

/** Every H.264 and H.265 video track of an SDP, in the order the camera lists them. */
function videoTracks(sdp: string, base: string): VideoTrack[] {
  const found: VideoTrack[] = [];
  for (const { pts, lines } of sections(sdp, "video")) {
    for (const pt of pts) {
      const map = lines.map((l) => new RegExp(`^a=rtpmap:${pt} (H264|H265)/90000`, "i").exec(l))
        .find((m) => m);
      if (!map) continue;
      const fmtp = lines.find((l) => l.startsWith(`a=fmtp:${pt} `)) ?? "";
      const param = (name: string) =>
        new RegExp(`(?:^a=fmtp:${pt} |;)\\s*${name}=([^;\\s]+)`, "i").exec(fmtp)?.[1];
      const controlUrl = controlOf(lines, base);
      if (map[1].toUpperCase() === "H264") {
        const sets = base64Nals(param("sprop-parameter-sets"));
        found.push({
          codec: "h264",
          payloadType: pt,
          controlUrl,
          vps: null,
          sps: sets.find((n) => (n[0] & 0x1f) === 7) ?? null,
          pps: sets.find((n) => (n[0] & 0x1f) === 8) ?? null,
          unplayable: null,
        });
        continue;
      }
      const first = (name: string) => base64Nals(param(name))[0] ?? null;
      // Decoding order numbers in every packet (RFC 7798 §4.4): a layout the depacketizer does
      // not read, so such a stream is refused in words rather than played damaged.
      const don = ["sprop-max-don-diff", "sprop-depack-buf-nalus"].some((n) =>
        Number(param(n) ?? 0) > 0
      );
      found.push({
        codec: "h265",
        payloadType: pt,
        controlUrl,
        vps: first("sprop-vps"),
        sps: first("sprop-sps"),
        pps: first("sprop-pps"),
        unplayable: don
          ? "the camera sends H.265 with decoding order numbers (sprop-max-don-diff), which the " +
            "live view does not play; use the RTSP URL"
          : null,
      });
    }
  }
  return found;
}
