/**
 * Run under `prlimit --nofile=N:N` by accept_loop_test.ts: listens, uses up every descriptor,
 * lets a client connect (its own process, so its descriptors are not ours), gives back a few and
 * prints what happened as one JSON line — whether the accept loop met EMFILE, outlived it and
 * then took the waiting connection.
 * @module
 */
import { acceptLoop } from "../../src/shared/transport/accept_loop.ts";
import { isOutOfDescriptors, openFileLimit } from "../../src/shared/open_files.ts";

const out = { limit: openFileLimit(), troubles: 0, outOfDescriptors: false, accepted: 0 };
const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
const port = (l.addr as Deno.NetAddr).port;
const gotOne = Promise.withResolvers<void>();
const loop = acceptLoop(l, (c) => {
  out.accepted++;
  c.close();
  gotOne.resolve();
}, (e) => {
  out.troubles++;
  out.outOfDescriptors ||= isOutOfDescriptors(e);
});
const client = new Deno.Command("bash", {
  args: ["-c", `exec 3<>/dev/tcp/127.0.0.1/${port}; sleep 3`],
}).spawn();
const held: Deno.FsFile[] = [];
try {
  for (;;) held.push(Deno.openSync("/dev/null"));
} catch { /* every descriptor taken */ }
// The client connects; accepting it fails for want of a descriptor, again and again.
while (out.troubles < 3) await new Promise((r) => setTimeout(r, 20));
for (const f of held.splice(0, 8)) f.close();
await gotOne.promise;
l.close();
await loop;
for (const f of held) f.close();
await client.status;
console.log(JSON.stringify(out));
