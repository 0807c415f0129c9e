/**
 * The sign-in page (`GET/POST /login`): a plain server-rendered form that sets the session cookie
 * and sends the browser back where it was going. Only same-origin relative return paths are
 * followed (`/c/h-…/…`, `/sites`), never `//host` or a full URL, so the page cannot be used to
 * bounce a user to another site.
 * @module
 */
import { Hono } from "hono";
import { AppError } from "../../shared/errors.ts";
import { VERSION } from "../../shared/version.ts";
import { isSecureRequest, type SignIn } from "../api/session_routes.ts";

/** The return path to follow after sign-in: `next` when it is a same-origin path, else `/`. */
export function safeNext(next: string | null | undefined): string {
  if (!next || next.length > 2048) return "/";
  if (!next.startsWith("/") || next.startsWith("//") || next.startsWith("/\\")) return "/";
  // deno-lint-ignore no-control-regex
  if (/[\x00-\x1f\x7f\\]/.test(next)) return "/";
  try {
    const u = new URL(next, "http://same.invalid");
    if (u.host !== "same.invalid") return "/";
  } catch {
    return "/";
  }
  return next;
}

function hostOf(origin: string): string {
  try {
    return new URL(origin).host;
  } catch {
    return "";
  }
}

/** The style of the pages shown before sign-in (sign in, set a password). */
export const PUBLIC_PAGE_CSS =
  `body{font-family:system-ui,sans-serif;background:#f4f5f7;color:#1d2330;margin:0}
main{max-width:22rem;margin:10vh auto;background:#fff;padding:2rem;border-radius:8px;box-shadow:0 1px 4px #0002}
h1{font-size:1.3rem;margin-top:0}label{display:block;margin:.8rem 0 .3rem;font-weight:600}
input{width:100%;box-sizing:border-box;padding:.55rem;border:1px solid #8a93a6;border-radius:4px;font-size:1rem}
button{margin-top:1.2rem;width:100%;padding:.6rem;background:#1f5eff;color:#fff;border:0;border-radius:4px;font-size:1rem;cursor:pointer}
.err{background:#fde8e8;color:#8a1c1c;padding:.6rem;border-radius:4px}footer{text-align:center;color:#5b6478;font-size:.8rem}`;

function Page(props: { next: string; error?: string; email?: string; notice?: string }) {
  return (
    <html lang="en">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <title>Sign in — Nanodems Connector</title>
        <style>{PUBLIC_PAGE_CSS}</style>
      </head>
      <body>
        <main>
          <h1>Sign in to Nanodems Connector</h1>
          {props.error ? <p class="err" role="alert">{props.error}</p> : null}
          {props.notice ? <p role="status">{props.notice}</p> : null}
          <form method="post" action="/login">
            <input type="hidden" name="next" value={props.next} />
            <label for="email">Email</label>
            <input
              id="email"
              name="email"
              type="email"
              autocomplete="username"
              required
              value={props.email ?? ""}
            />
            <label for="password">Password</label>
            <input
              id="password"
              name="password"
              type="password"
              autocomplete="current-password"
              required
            />
            <button type="submit">Sign in</button>
          </form>
        </main>
        <footer>Nanodems Connector {VERSION}</footer>
      </body>
    </html>
  );
}

/** The sign-in routes. */
export function loginPage(
  d: { signIn: SignIn; remote: (c: unknown) => string; publicUrl: () => string },
): Hono {
  const app = new Hono();
  app.get(
    "/login",
    (c) =>
      c.html(
        "<!doctype html>" + (
          <Page
            next={safeNext(c.req.query("next"))}
            notice={c.req.query("set") === "1" ? "Your password is set: sign in." : undefined}
          />
        ),
      ),
  );
  app.post("/login", async (c) => {
    // Login CSRF: a form on another site must not sign a browser into someone else's account.
    const origin = c.req.header("origin");
    if (origin && origin !== "null" && new URL(c.req.url).host !== hostOf(origin)) {
      return c.html(
        "<!doctype html>" + <Page next="/" error="Sign in from this site's own page." />,
        403,
      );
    }
    const form = await c.req.parseBody().catch(() => ({} as Record<string, unknown>));
    const next = safeNext(typeof form.next === "string" ? form.next : null);
    const email = typeof form.email === "string" ? form.email.slice(0, 254) : "";
    const password = typeof form.password === "string" ? form.password.slice(0, 1024) : "";
    if (!email || !password) {
      return c.html(
        "<!doctype html>" + (
          <Page next={next} email={email} error="Enter your email and password." />
        ),
        400,
      );
    }
    try {
      const done = await d.signIn(
        email,
        password,
        d.remote(c),
        isSecureRequest(c, d.publicUrl()),
      );
      c.header("set-cookie", done.setCookie);
      return c.redirect(next, 303);
    } catch (e) {
      if (!(e instanceof AppError)) throw e;
      return c.html(
        "<!doctype html>" + <Page next={next} email={email} error={e.message} />,
        e.httpStatus as 401,
      );
    }
  });
  return app;
}
