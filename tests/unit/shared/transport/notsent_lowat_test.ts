import { assert, assertEquals } from "../../../_fixtures/assert.ts";
import {
  DATA_NOTSENT_LOWAT,
  readNotSentLowat,
  setConnNotSentLowat,
  setListenerNotSentLowat,
} from "../../../../src/shared/transport/notsent_lowat.ts";
import { freePort } from "../../../_fixtures/sshd.ts";

const linux = Deno.build.os === "linux";

Deno.test("TCP_NOTSENT_LOWAT set on a listener is inherited by the connections it accepts", async () => {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  try {
    const why = setListenerNotSentLowat(port);
    if (!linux) return assert(why?.includes("not supported"), String(why));
    assertEquals(why, null);
    const client = await Deno.connect({ hostname: "127.0.0.1", port });
    const accepted = await l.accept();
    try {
      const peer = (accepted.remoteAddr as Deno.NetAddr).port;
      assertEquals(readNotSentLowat(port, peer), DATA_NOTSENT_LOWAT);
      // The dialing side is untouched until it sets its own.
      assertEquals(readNotSentLowat(peer, port), 0);
      assertEquals(setConnNotSentLowat(client, 32 << 10), null);
      assertEquals(readNotSentLowat(peer, port), 32 << 10);
    } finally {
      client.close();
      accepted.close();
    }
  } finally {
    l.close();
  }
});

Deno.test("a port with no socket of ours is reported, not guessed", () => {
  const why = setListenerNotSentLowat(freePort());
  assert(why !== null && /no socket bound|not supported/.test(why), String(why));
  const conn = {
    localAddr: { transport: "tcp" as const, hostname: "127.0.0.1", port: freePort() },
    remoteAddr: { transport: "tcp" as const, hostname: "127.0.0.1", port: freePort() },
  };
  const why2 = setConnNotSentLowat(conn);
  assert(why2 !== null && /not found|not supported/.test(why2), String(why2));
});
