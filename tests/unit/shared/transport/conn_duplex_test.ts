/**
 * `socketOf`: the socket node:http is handed by the native front. Its idle timer is what closes
 * idle keep-alive connections, so it must fire after a quiet spell, never while bytes flow, and
 * stop when set to 0 — whatever the timer's internal bookkeeping.
 */
import { assert, assertEquals } from "../../../_fixtures/assert.ts";
import { tcpPair } from "../../../_fixtures/loopback.ts";
import { socketOf } from "../../../../src/shared/transport/conn_duplex.ts";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

Deno.test("socketOf: the idle timeout waits out activity, fires once quiet, and 0 stops it", async () => {
  const { client, server } = await tcpPair();
  const s = socketOf(server, new TextEncoder().encode("head"));
  const seen: string[] = [];
  s.on("data", (b: Uint8Array) => seen.push(new TextDecoder().decode(b)));
  let fired = 0;
  let firedAt = 0;
  s.on("timeout", () => {
    fired++;
    firedAt = Date.now();
  });
  try {
    s.setTimeout(1_000);
    // A byte every 50 ms for 2 s: the connection is never idle for 1 s.
    for (let i = 0; i < 40; i++) {
      await client.write(new Uint8Array([0x61]));
      await sleep(50);
    }
    assertEquals(fired, 0, "fired while bytes were flowing");
    const quietFrom = Date.now();
    while (fired === 0 && Date.now() - quietFrom < 10_000) await sleep(20);
    assertEquals(fired, 1);
    assert(firedAt - quietFrom >= 900, `fired ${firedAt - quietFrom} ms after the last byte`);
    assertEquals(seen.join("").slice(0, 4), "head");

    // Writes count as activity too; a new length takes effect; 0 turns it off.
    s.setTimeout(600);
    for (let i = 0; i < 20; i++) {
      await new Promise<void>((r, j) => s.write(new Uint8Array([0x62]), (e) => e ? j(e) : r()));
      await sleep(50);
    }
    assertEquals(fired, 1, "fired while writing");
    s.setTimeout(0);
    await sleep(1_200);
    assertEquals(fired, 1, "fired after setTimeout(0)");
  } finally {
    s.destroy();
    try {
      client.close();
    } catch { /* closed */ }
  }
});

Deno.test("socketOf: a read already under way comes after the head and before later reads; null ends it", async () => {
  for (const last of ["B", null]) {
    const { client, server } = await tcpPair();
    let bring!: (b: Uint8Array | null) => void;
    const ahead = new Promise<Uint8Array | null>((r) => bring = r);
    const s = socketOf(server, new TextEncoder().encode("A"), undefined, ahead);
    const seen: string[] = [];
    s.on("data", (b: Uint8Array) => seen.push(new TextDecoder().decode(b)));
    const ended = new Promise<void>((r) => s.once("end", r));
    try {
      await client.write(new TextEncoder().encode("C"));
      await sleep(100);
      assertEquals(seen, ["A"], "read past the read under way");
      bring(last === null ? null : new TextEncoder().encode(last));
      if (last === null) {
        await ended;
        assertEquals(seen, ["A"]);
      } else {
        while (seen.join("") !== "ABC") await sleep(10);
      }
    } finally {
      s.destroy();
      try {
        client.close();
      } catch { /* closed */ }
    }
  }
});
