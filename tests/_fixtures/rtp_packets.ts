/**
 * What the live view's unit tests build and read: an RTP packet as a camera sends it, and a box
 * of a parsed MP4 found by its path.
 * @module
 */
import { assert } from "./assert.ts";
import type { ParsedBox } from "../../src/cloud/live/fmp4.ts";

/** An RTP packet of payload type 96 (SSRC 0x1234) with this sequence, timestamp and marker. */
export function rtpPacket(
  seq: number,
  ts: number,
  marker: boolean,
  payload: number[] | Uint8Array,
): Uint8Array {
  const b = new Uint8Array(12 + payload.length);
  b[0] = 0x80;
  b[1] = (marker ? 0x80 : 0) | 96;
  new DataView(b.buffer).setUint16(2, seq);
  new DataView(b.buffer).setUint32(4, ts);
  new DataView(b.buffer).setUint32(8, 0x1234);
  b.set(payload, 12);
  return b;
}

/** The box at `path` (types from the top), asserting each step exists. */
export function findBox(boxes: ParsedBox[], path: string[]): ParsedBox {
  let cur: ParsedBox | undefined;
  let list = boxes;
  for (const t of path) {
    cur = list.find((b) => b.type === t);
    assert(cur, `box ${t} of ${path.join("/")}`);
    list = cur.children ?? [];
  }
  return cur!;
}
