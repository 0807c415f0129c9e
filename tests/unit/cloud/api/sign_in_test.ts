// The sign-in checks one password for every attempt — no such account, a disabled one, an
// invitation not taken up, a wrong password and the right one alike — so how long a refusal
// takes does not tell a guesser which addresses have an account; and every refusal is the same
// error. On a real embedded store; the check is counted (a spy over the real one), not timed.
import { assert, assertEquals } from "../../../_fixtures/assert.ts";
import { ManualClock } from "../../../../src/shared/clock.ts";
import { openSqliteStore } from "../../../../src/cloud/store/sqlite.ts";
import { createSignIn } from "../../../../src/cloud/api/session_routes.ts";
import { checkSignInPassword, hashPassword } from "../../../../src/cloud/tenancy/password.ts";
import { AppError } from "../../../../src/shared/errors.ts";

Deno.test("sign-in: one password check per attempt, account or not; one refusal for all", async () => {
  const dir = await Deno.makeTempDir({ prefix: "nc-signin-" });
  const clock = new ManualClock(Date.UTC(2026, 11, 4, 12));
  const store = await openSqliteStore({ path: `${dir}/c.db`, clock });
  try {
    const tenant = await store.createTenant({ name: "Acme" });
    const passwordHash = await hashPassword("right horse battery");
    const add = (email: string, hash: string) =>
      store.createUser({ tenantId: tenant.id, email, passwordHash: hash, role: "viewer" });
    await add("owner@acme.test", passwordHash);
    const gone = await add("gone@acme.test", passwordHash);
    await store.updateUser(tenant.id, gone.id, { disabledAt: clock.now() });
    await add("invited@acme.test", "");

    const checks: (string | null)[] = [];
    const signIn = createSignIn({
      store,
      clock,
      checkPassword: (pw, stored) => {
        checks.push(stored);
        return checkSignInPassword(pw, stored);
      },
    });
    const refusal = async (email: string, password: string, ip: string) => {
      try {
        await signIn(email, password, ip, false);
      } catch (e) {
        assert(e instanceof AppError, String(e));
        return `${e.code}: ${e.message}`;
      }
      return "signed in";
    };
    const cases: [string, string, string | null][] = [
      ["nobody@acme.test", "right horse battery", null],
      ["gone@acme.test", "right horse battery", null],
      ["invited@acme.test", "", ""],
      ["owner@acme.test", "wrong horse battery", passwordHash],
    ];
    const refusals = new Set<string>();
    for (const [i, [email, password, stored]] of cases.entries()) {
      checks.length = 0;
      refusals.add(await refusal(email, password, `203.0.113.${i + 1}`));
      assertEquals(checks, [stored], email);
    }
    assertEquals(refusals.size, 1, [...refusals].join(" | "));
    assert([...refusals][0].startsWith("invalid_login"), [...refusals][0]);
    checks.length = 0;
    assertEquals(
      await refusal("Owner@Acme.test", "right horse battery", "203.0.113.9"),
      "signed in",
    );
    assertEquals(checks, [passwordHash]);
  } finally {
    await store.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("sign-in password check: false without a usable hash, whatever is typed", async () => {
  const stored = await hashPassword("right horse battery");
  assertEquals(await checkSignInPassword("right horse battery", stored), true);
  assertEquals(await checkSignInPassword("wrong", stored), false);
  for (const none of [null, "", "not-a-hash", "scrypt$1$1$1$$"]) {
    assertEquals(await checkSignInPassword("", none), false, String(none));
    assertEquals(await checkSignInPassword("right horse battery", none), false, String(none));
  }
});
