/**
 * The RTSP bench's cheap stand-in for a decoder: it checks every RTP packet of an H.264 stream
 * (RFC 3550 header, RFC 6184 packetization) without decoding a picture, so a hundred 2 Mbit/s
 * streams can be verified on two cores that could not decode them all. What it counts as an error
 * is whatever would make a decoder see a corrupt or missing picture: a lost RTP packet (a gap in
 * the sequence numbers, the only way bytes go missing on RTP over TCP), a packet that is not RTP
 * version 2, a NAL unit header with the forbidden bit set or of a type a packetizer never sends,
 * a STAP-A whose sizes do not add up, a fragmented NAL unit (FU-A) that ends without starting,
 * starts twice or changes type or timestamp midway, and an access unit whose timestamp changes
 * before its marker bit. Access units (frames) are counted from the first IDR picture, from where a
 * decoder could show them. Pure: fed one packet at a time.
 * @module
 */

/** What one stream's checker has seen so far. */
export interface RtpCounts {
  /** RTP packets (interleaved channel 0) and their bytes, headers included. */
  packets: number;
  bytes: number;
  /** Complete access units (marker bit) since the first IDR picture. */
  frames: number;
  /** Access units holding an IDR picture. */
  keyframes: number;
  /** RTP packets missing (sequence number gaps). */
  lost: number;
  /** Packets that broke the RTP or H.264 packetization rules. */
  malformed: number;
  /** The first problem, for the report. */
  firstProblem: string | null;
}

/** Checks one H.264 RTP stream, packet by packet. */
export class RtpH264Check {
  /** The counts so far (live: read it any time). */
  readonly counts: RtpCounts = {
    packets: 0,
    bytes: 0,
    frames: 0,
    keyframes: 0,
    lost: 0,
    malformed: 0,
    firstProblem: null,
  };
  #lastSeq = -1;
  /** Set once a NAL unit has started (a stream may be joined in the middle of a fragment). */
  #synced = false;
  #seenIdr = false;
  #inFu = false;
  #fuType = 0;
  #fuTs = 0;
  #auTs = -1;
  #auIdr = false;

  #problem(what: string): void {
    this.counts.malformed++;
    this.counts.firstProblem ??= what;
  }

  #nal(type: number): void {
    if (type === 5) this.#auIdr = true;
  }

  /** Feeds one RTP packet (the payload of an interleaved frame on the RTP channel). */
  packet(p: Uint8Array): void {
    const c = this.counts;
    c.packets++;
    c.bytes += p.length;
    if (p.length < 12 || p[0] >> 6 !== 2) return this.#problem("not an RTP version 2 packet");
    const cc = p[0] & 0x0f;
    const marker = (p[1] & 0x80) !== 0;
    const seq = (p[2] << 8) | p[3];
    const ts = ((p[4] << 24) | (p[5] << 16) | (p[6] << 8) | p[7]) >>> 0;
    let off = 12 + 4 * cc;
    if (p[0] & 0x10) {
      if (p.length < off + 4) return this.#problem("RTP header extension past the packet");
      off += 4 + 4 * ((p[off + 2] << 8) | p[off + 3]);
    }
    const end = p[0] & 0x20 ? p.length - p[p.length - 1] : p.length;
    if (off >= end) return this.#problem("RTP packet without payload");

    if (this.#lastSeq >= 0) {
      const gap = (seq - this.#lastSeq - 1) & 0xffff;
      if (gap >= 0x8000) return this.#problem(`RTP sequence went back (${this.#lastSeq} → ${seq})`);
      if (gap > 0) {
        c.lost += gap;
        c.firstProblem ??= `${gap} RTP packet(s) lost before sequence ${seq} (packet ${c.packets})`;
        // The fragment in flight is broken; resume at the next NAL unit start.
        this.#inFu = false;
        this.#synced = false;
      }
    }
    this.#lastSeq = seq;

    if (this.#synced && this.#auTs >= 0 && ts !== this.#auTs) {
      this.#problem("timestamp changed before the access unit's marker bit");
    }
    this.#auTs = ts;
    this.#payload(p.subarray(off, end), ts);
    if (marker) {
      if (this.#synced) {
        if (this.#auIdr) this.#seenIdr = true;
        if (this.#seenIdr) c.frames++;
        if (this.#auIdr) c.keyframes++;
      }
      this.#auIdr = false;
      this.#auTs = -1;
    }
  }

  #payload(b: Uint8Array, ts: number): void {
    if (b[0] & 0x80) return this.#problem("NAL unit header with the forbidden bit set");
    const type = b[0] & 0x1f;
    if (type >= 1 && type <= 23) {
      if (this.#inFu) this.#problem("NAL unit inside an unfinished FU-A");
      this.#inFu = false;
      this.#synced = true;
      return this.#nal(type);
    }
    if (type === 24) { // STAP-A: 16-bit size, NAL unit, …
      if (this.#inFu) this.#problem("STAP-A inside an unfinished FU-A");
      this.#inFu = false;
      this.#synced = true;
      let i = 1;
      while (i < b.length) {
        const size = i + 2 <= b.length ? (b[i] << 8) | b[i + 1] : 0;
        if (size === 0 || i + 2 + size > b.length) {
          return this.#problem("STAP-A sizes do not add up");
        }
        if (b[i + 2] & 0x80) return this.#problem("NAL unit header with the forbidden bit set");
        this.#nal(b[i + 2] & 0x1f);
        i += 2 + size;
      }
      return;
    }
    if (type === 28) { // FU-A: indicator, header (S, E, R, type), fragment
      if (b.length < 3) return this.#problem("FU-A without a fragment");
      const start = (b[1] & 0x80) !== 0;
      const end = (b[1] & 0x40) !== 0;
      const inner = b[1] & 0x1f;
      if (start && end) return this.#problem("FU-A marked both start and end");
      if (start) {
        if (this.#inFu) this.#problem("FU-A started before the previous one ended");
        this.#inFu = true;
        this.#synced = true;
        this.#fuType = inner;
        this.#fuTs = ts;
        this.#nal(inner);
      } else if (!this.#inFu) {
        // Joined (or resumed after a loss) in the middle of a fragmented NAL unit: wait.
        if (this.#synced) this.#problem("FU-A continued without a start");
        return;
      } else if (inner !== this.#fuType || ts !== this.#fuTs) {
        this.#problem("FU-A changed type or timestamp midway");
      }
      if (end) this.#inFu = false;
      return;
    }
    this.#problem(`NAL unit type ${type} is not sent by an H.264 packetizer in mode 1`);
  }
}
