import { assert, assertEquals } from "../../../_fixtures/assert.ts";
import { acceptLoop } from "../../../../src/shared/transport/accept_loop.ts";

const FIXTURE = new URL("../../../_fixtures/accept_under_emfile.ts", import.meta.url).pathname;

Deno.test("accept loop: out of descriptors, it waits and accepts again once some come back", async () => {
  // A process of its own with 64 descriptors: the test runner's are not touched.
  const r = await new Deno.Command("prlimit", {
    args: ["--nofile=64:64", "--", Deno.execPath(), "run", "-A", FIXTURE],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const err = new TextDecoder().decode(r.stderr);
  assertEquals(r.code, 0, err);
  const out = JSON.parse(new TextDecoder().decode(r.stdout).trim());
  assertEquals(out.limit, 64);
  assert(out.troubles >= 3 && out.outOfDescriptors, JSON.stringify(out));
  assertEquals(out.accepted, 1, "the waiting connection was taken once descriptors came back");
});

Deno.test("accept loop: a failure that is not about descriptors is reported and accepting goes on; a closed listener ends it", async () => {
  const errors = [new Error("Connection reset by peer (os error 104)"), null, null];
  const closed = Promise.withResolvers<never>();
  let taken = 0;
  const fake = {
    accept(): Promise<Deno.Conn> {
      const next = errors.shift();
      if (next) return Promise.reject(next);
      if (next === null) return Promise.resolve({ close() {} } as Deno.Conn);
      return closed.promise;
    },
  } as unknown as Deno.Listener;
  const troubles: string[] = [];
  const loop = acceptLoop(fake, () => {
    if (++taken === 2) closed.reject(new Deno.errors.BadResource("Listener has been closed"));
  }, (e) => troubles.push(e.message));
  await loop;
  assertEquals(taken, 2);
  assertEquals(troubles, ["Connection reset by peer (os error 104)"]);
});
