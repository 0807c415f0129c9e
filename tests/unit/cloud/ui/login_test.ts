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

Deno.test("sign-in form: a post from another site's page is refused", async () => {
  const { loginPage } = await import("../../../../src/cloud/ui/login.tsx");
  let called = 0;
  const app = loginPage({
    signIn: () => {
      called++;
      return Promise.reject(new Error("not reached"));
    },
    remote: () => "127.0.0.1",
    publicUrl: () => "http://cloud.example",
  });
  const res = await app.request("http://cloud.example/login", {
    method: "POST",
    headers: {
      origin: "https://evil.example",
      "content-type": "application/x-www-form-urlencoded",
    },
    body: "email=a%40b.c&password=x",
  });
  assertEquals(res.status, 403);
  assertEquals(called, 0);
});
