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
import type { Store } from "../../../../src/cloud/store/store.ts";

const PASSWORD = "right horse battery";

/** A real embedded store in a temp dir with a tenant "Acme", its clock and the password hash. */
async function withStore(
  fn: (
    w: { store: Store; clock: ManualClock; tenantId: string; passwordHash: string },
  ) => Promise<void>,
) {
  const dir = await Deno.makeTempDir({ prefix: "nc-signin-" });
  const clock = new ManualClock(Date.UTC(2026, 11, 4, 12));
  const store = await openSqliteStore({ path: `${dir}/c.db`, clock });
  try {
    const tenant = await store.createTenant({ name: "Acme" });
    await fn({ store, clock, tenantId: tenant.id, passwordHash: await hashPassword(PASSWORD) });
  } finally {
    await store.close();
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("sign-in: one password check per attempt, account or not; one refusal for all", () =>
  withStore(async ({ store, clock, tenantId, passwordHash }) => {
    const add = (email: string, hash: string) =>
      store.createUser({ tenantId, email, passwordHash: hash, role: "viewer" });
    await add("owner@acme.test", passwordHash);
    const gone = await add("gone@acme.test", passwordHash);
    await store.updateUser(tenantId, gone.id, { disabledAt: clock.now() });
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
      ["nobody@acme.test", PASSWORD, null],
      ["gone@acme.test", PASSWORD, null],
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
      await refusal("Owner@Acme.test", PASSWORD, "203.0.113.9"),
      "signed in",
    );
    assertEquals(checks, [passwordHash]);
  }));

Deno.test("sign-in password check: false without a usable hash, whatever is typed", async () => {
  const stored = await hashPassword(PASSWORD);
  assertEquals(await checkSignInPassword(PASSWORD, stored), true);
  assertEquals(await checkSignInPassword("wrong", stored), false);
  for (const none of [null, "", "not-a-hash", "scrypt$1$1$1$$"]) {
    assertEquals(await checkSignInPassword("", none), false, String(none));
    assertEquals(await checkSignInPassword(PASSWORD, none), false, String(none));
  }
});

Deno.test("sign-in: attempts sent at once are limited as if sent one after another", () =>
  withStore(async ({ store, clock, tenantId, passwordHash }) => {
    for (const email of ["owner@acme.test", "staff@acme.test"]) {
      await store.createUser({ tenantId, email, passwordHash, role: "viewer" });
    }
    let checks = 0;
    const signIn = createSignIn({
      store,
      clock,
      checkPassword: (pw, stored) => {
        checks++;
        return checkSignInPassword(pw, stored);
      },
    });
    const attempt = (email: string, password: string, ip: string) =>
      signIn(email, password, ip, false).then(() => "signed in", (e: AppError) => e.code);

    // 30 guesses at once from one address: 5 checked (and refused), the rest refused unchecked,
    // the right password among them too. Counting after the check let all 30 through.
    const burst = await Promise.all(
      Array.from(
        { length: 30 },
        (_, i) =>
          attempt(
            "owner@acme.test",
            i === 29 ? PASSWORD : `guess ${i}`,
            "203.0.113.7",
          ),
      ),
    );
    assertEquals(checks, 5);
    assertEquals(burst.filter((r) => r === "invalid_login").length, 5);
    assertEquals(burst.filter((r) => r === "rate_limited").length, 25);

    // Refused attempts and right passwords hand their place back: only the 5 checked wrong
    // passwords count, so the limit lifts with the window, as for attempts one at a time.
    clock.advance(60_000);
    checks = 0;
    const office = await Promise.all(
      ["owner@acme.test", "staff@acme.test", "owner@acme.test"].map((email) =>
        attempt(email, PASSWORD, "198.51.100.20")
      ),
    );
    assertEquals(office, ["signed in", "signed in", "signed in"]);
    for (let i = 0; i < 5; i++) {
      assertEquals(await attempt("staff@acme.test", "wrong", "198.51.100.20"), "invalid_login");
    }
    assertEquals(
      await attempt("staff@acme.test", PASSWORD, "198.51.100.20"),
      "rate_limited",
      "five failures from the office: its sixth attempt waits, as before",
    );
    assertEquals(checks, 8);
  }));
