import { assert, assertEquals } from "../../../_fixtures/assert.ts";
import { setListenerNoDelay } from "../../../../src/shared/transport/nodelay.ts";
import { freePort } from "../../../_fixtures/sshd.ts";

Deno.test("TCP_NODELAY is set on this process's listening socket, found by its port", () => {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  try {
    const port = (l.addr as Deno.NetAddr).port;
    if (Deno.build.os === "linux") assertEquals(setListenerNoDelay(port), null);
    else assert(setListenerNoDelay(port)?.includes("not supported"));
  } finally {
    l.close();
  }
});

Deno.test("a port with no listener of ours is reported, not guessed", () => {
  const why = setListenerNoDelay(freePort());
  assert(why !== null && /no socket bound|not supported/.test(why), String(why));
});
