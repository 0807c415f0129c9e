import { assertEquals } from "../../../_fixtures/assert.ts";
import { safeNext } from "../../../../src/cloud/ui/login.tsx";

Deno.test("sign-in return path: same-origin relative paths only", () => {
  assertEquals(
    safeNext("/c/h-abcdefghijklmnopqrstuv/doc?x=1"),
    "/c/h-abcdefghijklmnopqrstuv/doc?x=1",
  );
  assertEquals(safeNext("/sites"), "/sites");
  for (
    const bad of [
      null,
      "",
      "https://evil.example/",
      "//evil.example/",
      "/\\evil.example",
      "evil",
      "/\t/evil.example",
      "javascript:alert(1)",
    ]
  ) {
    assertEquals(safeNext(bad), "/", String(bad));
  }
});
