// OS errors quoted for people: Deno's " (os error N)" goes, the rest of the message stays.
import { assertEquals } from "../../_fixtures/assert.ts";
import { osMessage } from "../../../src/shared/os_error.ts";

Deno.test("an OS error's message loses Deno's error number and keeps the rest", () => {
  assertEquals(osMessage(new Error("File too large (os error 27)")), "File too large");
  assertEquals(
    osMessage(new Error("Read-only file system (os error 30): mkdir '/data'")),
    "Read-only file system: mkdir '/data'",
  );
  assertEquals(osMessage(new Error("nothing to strip")), "nothing to strip");
  assertEquals(osMessage("a string"), "a string");
});
