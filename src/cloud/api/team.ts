/**
 * `/api/users`: the tenant's team for its admins — who is there with which role, when they last
 * signed in; invite someone (a one-time link that sets the password, shown once), change a role,
 * disable or enable, hand out a password-reset link. Admins cannot change themselves here (no
 * locking yourself out) and only a superadmin grants or changes the superadmin role. With the
 * cloud's mail server (`--smtp`) the link also goes to the person by email (invite_mail.ts); the
 * answer says whether the server took it, and the admin still gets the link to pass on. Each email
 * counts in the tenant's budget of sends by hand (tenancy/send_budget.ts): once it is spent the
 * link is still made and given, not emailed, and the answer says why.
 * @module
 */
import { Hono } from "hono";
import { z } from "zod";
import { AppError } from "../../shared/errors.ts";
import type { Clock } from "../../shared/clock.ts";
import type { Store, User } from "../store/store.ts";
import { requireRole } from "../tenancy/roles.ts";
import { mintInvite } from "../tenancy/invites.ts";
import { announceChange } from "../watcher.ts";
import { type AuthVars, requireAuth } from "./middleware/auth.ts";
import { jsonBody } from "./validate.ts";
import { inviteBody, userPatch } from "./schemas.ts";
import type { Principal } from "../tenancy/auth.ts";
import type { Mailer } from "../events/mailer.ts";
import { inviteMail } from "../tenancy/invite_mail.ts";
import { SEND_BUDGET_SPENT, SendBudget } from "../tenancy/send_budget.ts";

/** What the team routes need. */
export interface TeamDeps {
  store: Store;
  clock: Clock;
  publicUrl: () => string;
  /** `--smtp`: the links also go to their person by email. */
  mailer?: Mailer | null;
}

/** When each user of the tenant last signed in (from the audit log). */
export async function lastSignIns(store: Store, tenantId: string): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  for (const e of await store.listAudit({ tenantId, action: "auth.login", limit: 1000 })) {
    if (!out.has(e.target)) out.set(e.target, e.at);
  }
  return out;
}

/** A user as the team page and API show it. */
export function teamRow(u: User, last: Map<string, number>) {
  return {
    id: u.id,
    email: u.email,
    role: u.role,
    disabled: u.disabledAt !== null,
    canSignIn: u.passwordHash !== "" && u.disabledAt === null,
    lastSignInAt: last.get(u.id) ?? null,
    createdAt: u.createdAt,
  };
}

const idParam = z.string().regex(/^u-[A-Za-z0-9_-]{1,64}$/);

/** The routes under /api (team). */
export function teamRoutes(d: TeamDeps): Hono<AuthVars> {
  const { store } = d;
  const app = new Hono<AuthVars>();
  const admin = requireAuth(store, "admin");
  const budget = new SendBudget(store);
  const member = async (p: Principal, id: string) => {
    const u = idParam.safeParse(id).success ? await store.getUser(id) : null;
    if (!u || u.tenantId !== p.tenantId) throw new AppError("not_found", "no such user");
    return u;
  };
  const audit = (p: Principal, action: string, u: User, detail: Record<string, unknown> = {}) =>
    store.appendAudit({
      tenantId: p.tenantId,
      actor: p.actor,
      action,
      target: u.id,
      detail: { email: u.email, ...detail },
    });
  const link = async (p: Principal, u: User) => {
    const { path, expiresAt } = await mintInvite(store, {
      tenantId: p.tenantId,
      userId: u.id,
      now: d.clock.now(),
    });
    return { url: `${d.publicUrl()}${path}`, expiresAt };
  };
  /**
   * Emails `u` its link when the cloud has a mail server: what the answer adds (`emailed`, and
   * the server's refusal as `emailError`) and the note for the admin.
   */
  const mailLink = async (
    p: Principal,
    u: User,
    l: { url: string; expiresAt: number },
    reset: boolean,
  ): Promise<{ emailed?: boolean; emailError?: string; note?: string }> => {
    if (!d.mailer) return {};
    const by = p.userId ? (await store.getUser(p.userId))?.email : undefined;
    const unsent = (why: string) => ({
      emailed: false,
      emailError: why,
      note: `The email to ${u.email} could not be sent (${why}): send them this link yourself. ` +
        "It works once and is not shown again.",
    });
    if (!await budget.take(p.tenantId)) return unsent(SEND_BUDGET_SPENT);
    try {
      await d.mailer.send(
        [u.email],
        inviteMail({
          ...l,
          tenant: (await store.getTenant(p.tenantId))?.name ?? p.tenantId,
          role: u.role,
          by: by ?? "An administrator",
          reset,
        }),
      );
      return {
        emailed: true,
        note: `An email with this link went to ${u.email}. It works once and is not shown again.`,
      };
    } catch (e) {
      return unsent((e as Error).message);
    }
  };

  app.get("/users", admin, async (c) => {
    const p = c.get("principal");
    const last = await lastSignIns(store, p.tenantId);
    return c.json({ items: (await store.listUsers(p.tenantId)).map((u) => teamRow(u, last)) });
  });
  app.post("/users", admin, async (c) => {
    const p = c.get("principal");
    const body = await jsonBody(c, inviteBody);
    if (body.role === "superadmin") requireRole(p.role, "superadmin");
    if (await store.getUserByEmail(body.email)) {
      throw new AppError("conflict", `a user with email ${body.email} already exists`);
    }
    const u = await store.createUser({
      tenantId: p.tenantId,
      email: body.email,
      passwordHash: "",
      role: body.role,
    });
    const invite = await link(p, u);
    const mail = await mailLink(p, u, invite, false);
    await audit(p, "user.invite", u, {
      role: u.role,
      ...(mail.emailed === undefined ? {} : { emailed: mail.emailed }),
    });
    return c.json({
      user: teamRow(u, new Map()),
      inviteUrl: invite.url,
      expiresAt: invite.expiresAt,
      note: "Send this link to the user: it sets their password once and is not shown again.",
      ...mail,
    }, 201);
  });
  app.patch("/users/:id", admin, async (c) => {
    const p = c.get("principal");
    const u = await member(p, c.req.param("id"));
    const body = await jsonBody(c, userPatch);
    if (u.id === p.userId) {
      throw new AppError("bad_request", "you cannot change your own role or disable yourself");
    }
    if (u.role === "superadmin" || body.role === "superadmin") requireRole(p.role, "superadmin");
    const next = await store.updateUser(p.tenantId, u.id, {
      ...(body.role ? { role: body.role } : {}),
      ...(body.disabled === undefined
        ? {}
        : { disabledAt: body.disabled ? (u.disabledAt ?? d.clock.now()) : null }),
    });
    if (!next) throw new AppError("not_found", "no such user");
    if (body.role && body.role !== u.role) {
      await audit(p, "user.role", u, { from: u.role, to: body.role });
    }
    if (body.disabled !== undefined && body.disabled !== (u.disabledAt !== null)) {
      await audit(p, body.disabled ? "user.disable" : "user.enable", u);
    }
    // A disabled user's sessions, tokens and open tunnels end within a second.
    await announceChange(store);
    return c.json(teamRow(next, await lastSignIns(store, p.tenantId)));
  });
  app.post("/users/:id/password-link", admin, async (c) => {
    const p = c.get("principal");
    const u = await member(p, c.req.param("id"));
    if (u.role === "superadmin") requireRole(p.role, "superadmin");
    const reset = await link(p, u);
    const mail = await mailLink(p, u, reset, true);
    await audit(
      p,
      "user.password_link",
      u,
      mail.emailed === undefined ? {} : { emailed: mail.emailed },
    );
    return c.json({
      inviteUrl: reset.url,
      expiresAt: reset.expiresAt,
      note: "Send this link to the user: it sets a new password once and is not shown again.",
      ...mail,
    }, 201);
  });
  return app;
}
