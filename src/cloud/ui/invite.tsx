/**
 * `/invite/{token}`: the page behind a one-time link from the team page (an invite or a password
 * reset). It asks for the new password twice, sets it once (the link then stops working) and
 * sends the user to sign in. A used, expired or unknown link says so and who can help.
 * @module
 */
import { Hono } from "hono";
import type { Clock } from "../../shared/clock.ts";
import { hashToken } from "../../shared/crypto/token.ts";
import type { Store } from "../store/store.ts";
import { isInviteToken } from "../tenancy/invites.ts";
import { hashPassword, MIN_PASSWORD_LENGTH } from "../tenancy/password.ts";
import { invitePasswordBody } from "../api/schemas.ts";
import { announceChange } from "../watcher.ts";
import { PUBLIC_PAGE_CSS } from "./login.tsx";

const DEAD = "This link has expired or was already used. Ask an admin of your team for a new one.";

function Page(props: { email?: string; error?: string; done?: boolean }) {
  return (
    <html lang="en">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <title>Set your password — Nanodems Connector</title>
        <style>{PUBLIC_PAGE_CSS}</style>
      </head>
      <body>
        <main>
          <h1>Set your password</h1>
          {props.error ? <p class="err" role="alert">{props.error}</p> : null}
          {props.email
            ? (
              <form method="post">
                <p>
                  For <strong>{props.email}</strong>, at least {MIN_PASSWORD_LENGTH} characters.
                </p>
                <label for="password">New password</label>
                <input
                  id="password"
                  name="password"
                  type="password"
                  autocomplete="new-password"
                  minlength={MIN_PASSWORD_LENGTH}
                  required
                />
                <label for="confirm">The same again</label>
                <input
                  id="confirm"
                  name="confirm"
                  type="password"
                  autocomplete="new-password"
                  required
                />
                <button type="submit">Set password</button>
              </form>
            )
            : (
              <p>
                <a href="/login">Sign in</a>
              </p>
            )}
        </main>
      </body>
    </html>
  );
}

const html = (node: unknown) => "<!doctype html>" + String(node);

/** The public routes /invite/{token}. */
export function inviteRoutes(d: { store: Store; clock: Clock }): Hono {
  const app = new Hono();
  const open = async (token: string) => {
    if (!isInviteToken(token)) return null;
    const hash = await hashToken(token);
    const inv = await d.store.getUserInvite(hash);
    if (!inv || inv.usedAt !== null || inv.expiresAt <= d.clock.now()) return null;
    const user = await d.store.getUser(inv.userId);
    return user ? { hash, inv, user } : null;
  };
  app.get("/invite/:token", async (c) => {
    c.header("cache-control", "no-store");
    c.header("referrer-policy", "no-referrer");
    const o = await open(c.req.param("token"));
    if (!o) return c.html(html(<Page error={DEAD} />), 404);
    return c.html(html(<Page email={o.user.email} />));
  });
  app.post("/invite/:token", async (c) => {
    c.header("cache-control", "no-store");
    c.header("referrer-policy", "no-referrer");
    const o = await open(c.req.param("token"));
    if (!o) return c.html(html(<Page error={DEAD} />), 404);
    const form = await c.req.parseBody().catch(() => ({} as Record<string, unknown>));
    const parsed = invitePasswordBody.safeParse({
      password: typeof form.password === "string" ? form.password : "",
      confirm: typeof form.confirm === "string" ? form.confirm : "",
    });
    if (!parsed.success) {
      const error = parsed.error.issues[0]?.message ?? "invalid password";
      return c.html(html(<Page email={o.user.email} error={error} />), 400);
    }
    const user = await d.store.consumeUserInvite(o.hash, await hashPassword(parsed.data.password));
    if (!user) return c.html(html(<Page error={DEAD} />), 404);
    await d.store.appendAudit({
      tenantId: user.tenantId,
      actor: `user:${user.id}`,
      action: "user.password_set",
      target: user.id,
      detail: { via: "link" },
    });
    await announceChange(d.store);
    return c.redirect(`/login?next=${encodeURIComponent("/")}&set=1`, 303);
  });
  return app;
}
