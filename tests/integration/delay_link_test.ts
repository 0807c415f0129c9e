// The delaying proxy that stands for a long link (tests/_fixtures/delay_link.ts), over real
// loopback sockets: bytes arrive whole and in order, no earlier than the delay; and a far end
// that goes away while chunks are still in flight to it cuts the link, as a reset would, instead
// of the failed write's rejection going unheard (it crashed the bench in CI run114: "Uncaught
// (in promise) BrokenPipe" from the proxy's writer).
import { assert, assertEquals } from "../_fixtures/assert.ts";
import { delayProxy } from "../_fixtures/delay_link.ts";
import { until } from "../_fixtures/until.ts";

async function readAll(c: Deno.Conn): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  const buf = new Uint8Array(64 << 10);
  try {
    for (let n; (n = await c.read(buf)) !== null;) parts.push(buf.slice(0, n));
  } catch { /* reset */ }
  const out = new Uint8Array(parts.reduce((a, p) => a + p.byteLength, 0));
  let off = 0;
  for (const p of parts) out.set(p, (off += p.byteLength) - p.byteLength);
  return out;
}

Deno.test("delay link: bytes arrive whole, in order, after the delay", async () => {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const proxy = delayProxy((l.addr as Deno.NetAddr).port, 20);
  try {
    const data = crypto.getRandomValues(new Uint8Array(60_000));
    const got = (async () => {
      const s = await l.accept();
      try {
        return await readAll(s);
      } finally {
        s.close();
      }
    })();
    const c = await Deno.connect({ hostname: "127.0.0.1", port: proxy.port });
    const t0 = performance.now();
    await c.write(data);
    await c.closeWrite();
    const received = await got;
    assert(performance.now() - t0 >= 20, "not before the delay");
    assertEquals(received, data);
    c.close();
  } finally {
    proxy.close();
    l.close();
  }
});

Deno.test("delay link: a far end gone with chunks in flight ends the link, no rejection unheard", async () => {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const proxy = delayProxy((l.addr as Deno.NetAddr).port, 20);
  try {
    // The device reads nothing and goes away at once: the proxy's delayed writes to it meet a
    // reset while more is queued (the proxy reads without bound, so the client's writes all
    // succeed, as into a long link's buffers).
    const gone = (async () => (await l.accept()).close())();
    const c = await Deno.connect({ hostname: "127.0.0.1", port: proxy.port });
    const chunk = new Uint8Array(64 << 10);
    try {
      for (let i = 0; i < 64; i++) await c.write(chunk); // 4 MiB: more than loopback buffers
    } catch { /* cut already */ }
    await gone;
    // The proxy ends the link by itself (the client is still open here): it neither hangs on
    // the client nor lets the failed write's rejection go unheard (which fails this test).
    await until("the proxy ended the link", () => proxy.carrying === 0, 10_000, 20);
    assertEquals(proxy.accepted, 1);
    await readAll(c); // the client sees its connection end
    c.close();
  } finally {
    proxy.close();
    l.close();
  }
});
