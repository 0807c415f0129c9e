// G.711 sound made FLAC for the browser, checked against ffmpeg as the independent decoder: the
// μ-law and A-law tables give ffmpeg's samples for every byte; FLAC frames (mono and stereo, small
// and large sample numbers) decode with ffmpeg's FLAC decoder, which checks both CRCs, to exactly
// the G.711 samples; and the same frames in the live view's fMP4 (a `fLaC` track) do too.
import { assertEquals } from "../../../_fixtures/assert.ts";
import { flacFrame, G711, G711ToFlac, streamInfo } from "../../../../src/cloud/live/g711_flac.ts";
import { audioSegment, initSegment } from "../../../../src/cloud/live/fmp4.ts";
import { parseRtp } from "../../../../src/cloud/live/rtp_video.ts";
import type { AudioFrames } from "../../../../src/cloud/live/rtp_aac.ts";

/** ffmpeg's decoding of `input`'s sound (in `format`, input `args`) as 16-bit little-endian. */
async function ffmpegS16(
  input: Uint8Array,
  format: string,
  ...args: string[]
): Promise<Int16Array> {
  const file = await Deno.makeTempFile();
  try {
    await Deno.writeFile(file, input);
    const out = await new Deno.Command("ffmpeg", {
      args: [
        "-v",
        "error",
        "-err_detect",
        "crccheck",
        ...args,
        "-f",
        format,
        "-i",
        file,
        "-map",
        "0:a",
        "-f",
        "s16le",
        "-",
      ],
      stdout: "piped",
      stderr: "piped",
    }).output();
    assertEquals(new TextDecoder().decode(out.stderr), "", "ffmpeg decodes without a word");
    return new Int16Array(out.stdout.slice().buffer);
  } finally {
    await Deno.remove(file);
  }
}

/** A raw FLAC stream: the marker, STREAMINFO as the last metadata block, then `frames`. */
function flacStream(rate: number, channels: number, frames: Uint8Array[]): Uint8Array {
  const info = streamInfo(rate, channels);
  const head = [0x66, 0x4c, 0x61, 0x43, 0x80, 0, 0, info.length];
  const all = new Uint8Array(head.length + info.length + frames.reduce((n, f) => n + f.length, 0));
  all.set(head);
  all.set(info, head.length);
  let off = head.length + info.length;
  for (const f of frames) {
    all.set(f, off);
    off += f.length;
  }
  return all;
}

/** Every byte value, then a slow sweep: G.711 input with all codes and some runs. */
const BYTES = Uint8Array.from({ length: 800 }, (_, i) => i < 256 ? i : (i * 7) & 0xff);

Deno.test("g711: the μ-law and A-law tables are ffmpeg's for every byte", async () => {
  const all = Uint8Array.from({ length: 256 }, (_, i) => i);
  for (const [enc, format] of [["pcmu", "mulaw"], ["pcma", "alaw"]] as const) {
    const theirs = await ffmpegS16(all, format, "-ar", "8000", "-ac", "1");
    assertEquals([...G711[enc]], [...theirs], enc);
  }
});

Deno.test("g711 to flac: frames ffmpeg's FLAC decoder takes whole, mono and stereo", async () => {
  for (const [enc, channels] of [["pcmu", 1], ["pcma", 2]] as const) {
    // Packets of 160 bytes (20 ms at 8 kHz, as cameras send), from a large sample number on, so
    // the frame headers carry multi-byte coded numbers.
    const frames: Uint8Array[] = [];
    for (let at = 0; at < BYTES.length; at += 160) {
      const f = flacFrame(BYTES.subarray(at, at + 160), enc, channels, 1_000_000 + at / channels);
      frames.push(f!);
    }
    const decoded = await ffmpegS16(flacStream(8000, channels, frames), "flac");
    assertEquals([...decoded], Array.from(BYTES, (b) => G711[enc][b]), `${enc} × ${channels}`);
  }
  // Nothing whole, or more than a frame may hold: no frame.
  assertEquals(flacFrame(new Uint8Array(1), "pcmu", 2, 0), null);
  assertEquals(flacFrame(new Uint8Array(5000), "pcmu", 1, 0), null);
});

Deno.test("g711 to flac: RTP packets become a fLaC track of the fMP4 that ffmpeg decodes", async () => {
  const got: AudioFrames[] = [];
  const g = new G711ToFlac({ encoding: "pcmu", channels: 1 }, (f) => got.push(f));
  for (let at = 0; at < BYTES.length; at += 160) {
    const b = new Uint8Array(12 + 160);
    b[0] = 0x80;
    new DataView(b.buffer).setUint32(4, 0xffffff00 + at); // the RTP clock wraps on the way
    b.set(BYTES.subarray(at, at + 160), 12);
    g.push(parseRtp(b)!);
  }
  assertEquals(got.map((f) => f.frameSamples), [160, 160, 160, 160, 160]);
  const sps = Uint8Array.from(atob("Z0LADdoFB+hAAAADAEAAAA8DxQqo"), (c) => c.charCodeAt(0));
  const pps = Uint8Array.from(atob("aM4PyA=="), (c) => c.charCodeAt(0));
  const init = initSegment(sps, pps, {
    rate: 8000,
    channels: 1,
    config: new Uint8Array(0),
    codec: "flac",
  });
  assertEquals(init.codec, "avc1.42C00D,flac");
  const parts = [init.bytes, ...got.map((f, i) => audioSegment(i + 1, i * 160, f.frames, 160))];
  const file = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let off = 0;
  for (const p of parts) {
    file.set(p, off);
    off += p.length;
  }
  const decoded = await ffmpegS16(file, "mp4");
  assertEquals([...decoded], Array.from(BYTES, (b) => G711.pcmu[b]));
});

Deno.test("g711 to flac: a packet longer than a FLAC frame holds is several frames, none lost", async () => {
  // 10 000 samples of A-law (1.25 s at 8 kHz) in one packet, then one of 160: it used to be dropped.
  const long = Uint8Array.from({ length: 10_000 }, (_, i) => (i * 13) & 0xff);
  const got: AudioFrames[] = [];
  const g = new G711ToFlac({ encoding: "pcma", channels: 1 }, (f) => got.push(f));
  let ts = 0xfffff000; // the RTP clock wraps inside the long packet
  for (const payload of [long, BYTES.subarray(0, 160)]) {
    const b = new Uint8Array(12 + payload.length);
    b[0] = 0x80;
    new DataView(b.buffer).setUint32(4, ts);
    b.set(payload, 12);
    g.push(parseRtp(b)!);
    ts = (ts + payload.length) >>> 0;
  }
  assertEquals(got.map((f) => f.frameSamples), [4608, 4608, 784, 160]);
  assertEquals(
    got.map((f) => f.timestamp),
    [0xfffff000, (0xfffff000 + 4608) >>> 0, (0xfffff000 + 9216) >>> 0, (0xfffff000 + 10_000) >>> 0],
  );
  const decoded = await ffmpegS16(flacStream(8000, 1, got.flatMap((f) => f.frames)), "flac");
  assertEquals(
    [...decoded],
    [...long, ...BYTES.subarray(0, 160)].map((b) => G711.pcma[b]),
  );
});
