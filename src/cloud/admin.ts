/**
 * `connector cloud admin …`: the platform operator's shell for the things the web UI will do —
 * create a tenant, a site, a device with ports (which mints its handles), an enrollment token,
 * a user and an API token; list and revoke agents. It works on the data directory's store
 * directly (safe while the cloud runs) and tells running nodes to apply the change.
 * Secrets (enrollment and API tokens) are printed once and stored only as hashes.
 * @module
 */
import { join, resolve } from "node:path";
import { z } from "zod";
import {
  type OptionSpec,
  parseFlags,
  renderOptions,
  UsageError,
  validateConfig,
} from "../shared/cli.ts";
import { duration } from "../shared/duration.ts";
import { systemClock } from "../shared/clock.ts";
import { hashToken, mintToken } from "../shared/crypto/token.ts";
import { mintEnrollmentToken } from "./tenancy/enrollment.ts";
import type { Device, NodeRecord, Store } from "./store/store.ts";
import { isRunning } from "./nodes.ts";
import { formatHuman } from "./admin_output.ts";
import { isPortProtocol, PORT_PROTOCOLS, type PortProtocol } from "./store/port_protocols.ts";
import { ensureHandle } from "./tenancy/handle.ts";
import { deviceHostRefusal } from "./tenancy/device_host.ts";
import { announceChange } from "./watcher.ts";
import { openStore, storeUrl as storeUrlSchema } from "./store/open.ts";
import { withAuditEvents } from "./events/audit_events.ts";
import { createLogger } from "../shared/log.ts";
import { EventProducer } from "./events/producer.ts";
import { ensureCas } from "./pki.ts";
import { issueNodeLeaf, writePair } from "./server_cert_renewal.ts";
import { certInfo } from "../shared/crypto/pki.ts";
import { writePublicFile } from "../shared/crypto/files.ts";
import { hashPassword, MIN_PASSWORD_LENGTH } from "./tenancy/password.ts";
import { promptPassword } from "../shared/password_prompt.ts";
import { commandHint } from "../shared/invocation.ts";
import { recordedPublicUrl } from "./public_url.ts";
import { parseSmtpUrl, SmtpUrlError } from "./events/smtp_url.ts";
import { mailRecipients, MailTargetError } from "./events/mail_target.ts";
import { defaultMailFrom, Mailer, mailProxyFor } from "./events/mailer.ts";
import { noProxyFrom, parseWebhookProxy } from "./events/webhook_proxy.ts";
import { ProxyError } from "../shared/transport/proxy.ts";
import { alertMail } from "./events/alert_mail.ts";
import { makeBackup } from "./backup/backup.ts";
import { restoreBackup } from "./backup/restore.ts";
import {
  CA_KINDS,
  type CaKind,
  loadAgentCas,
  loadCas,
  type Phase,
  PHASES,
  readRotation,
  rotateCa,
  RotationError,
  tokenPins,
} from "./ca_rotation.ts";

/** The rotation phase, the CAs' pins, and how many agents hold a certificate from each. */
async function caStatus(
  store: Store,
  dataDir: string,
  kind: CaKind,
): Promise<Record<string, unknown>> {
  const cas = await loadCas(dataDir, kind);
  const r = await readRotation(join(dataDir, "ca"), kind);
  const out = {
    ca: kind,
    phase: cas.phase,
    primaryPin: cas.primary.pin,
    renewalsPin: cas.renewals.pin,
    oldPin: r.oldPin,
    newPin: r.newPin,
  };
  if (kind !== "agent") return out;
  const agents = await store.listAgentsByCertExpiry(Infinity, 1_000_000);
  const count = (pin: string | null) => agents.filter((x) => pin && x.certCa === pin).length;
  return {
    ...out,
    agents: {
      total: agents.length,
      onOldCa: count(r.oldPin),
      onNewCa: count(r.newPin),
      onCurrentCa: count(cas.renewals.pin),
    },
  };
}

const common: Record<string, OptionSpec> = {
  "data-dir": {
    type: "string",
    env: "NC_DATA_DIR",
    arg: "DIR",
    default: "./data",
    help: "The cloud's data directory",
  },
  store: {
    type: "string",
    env: "NC_STORE",
    arg: "URL",
    default: "sqlite:",
    help: "The cloud's store: sqlite: (in the data dir) or the nodes' mongodb:// URI",
  },
  json: { type: "boolean", help: "Print the result as JSON" },
};

const id = z.string().min(1).max(64);
/** Ports as given on the command line, each with the protocol it was marked with, if any. */
interface PortSpec {
  ports: number[];
  /** `554/rtsp` marks port 554 as RTSP; a port without a mark gets its default. */
  protocols: Record<number, PortProtocol>;
}
const portList = z.string().transform((s, ctx): PortSpec => {
  const ports: number[] = [];
  const protocols: Record<number, PortProtocol> = {};
  for (const item of s.split(",").map((p) => p.trim()).filter(Boolean)) {
    const [num, proto, extra] = item.split("/");
    const port = Number(num);
    if (
      !Number.isInteger(port) || port < 1 || port > 65535 || extra !== undefined ||
      (proto !== undefined && !isPortProtocol(proto.toLowerCase()))
    ) {
      ctx.addIssue({
        code: "custom",
        message: `expected ports 1-65535, comma-separated, each optionally with its protocol (${
          PORT_PROTOCOLS.join(", ")
        }) after a slash, e.g. 80/http,554/rtsp; got "${s}"`,
      });
      return z.NEVER;
    }
    ports.push(port);
    if (proto !== undefined) protocols[port] = proto.toLowerCase() as PortProtocol;
  }
  if (!ports.length) {
    ctx.addIssue({ code: "custom", message: `expected at least one port, got "${s}"` });
    return z.NEVER;
  }
  return { ports: [...new Set(ports)].sort((a, b) => a - b), protocols };
});
const host = z.string().min(1).max(253).regex(/^[A-Za-z0-9.:_-]+$/, "expected an IP or host name");

interface Command {
  summary: string;
  options: Record<string, OptionSpec>;
  schema: z.ZodType;
  run(
    store: Store,
    args: Record<string, unknown>,
    dataDir: string,
  ): Promise<Record<string, unknown>>;
}

/** A command on the data directory's files, run without opening (or migrating) the store. */
interface FileCommand extends Omit<Command, "run"> {
  files: (args: Record<string, unknown>, dataDir: string) => Promise<Record<string, unknown>>;
  /** It works whatever the store is (it reads no database file). */
  anyStore?: true;
}

function isFileCommand(c: Command | FileCommand): c is FileCommand {
  return "files" in c;
}

/** Progress of a long file command, on standard error (standard output is the result). */
const progress = (line: string) => console.error(line);

const FILE_COMMANDS: Record<string, FileCommand> = {
  "mail test": {
    summary:
      "Send a test email through the mail server the cloud is given (--smtp / NC_SMTP_URL), before alerts and invitations depend on it",
    options: {
      to: { type: "string", arg: "ADDRESS", help: "Where to send it (required)" },
      smtp: {
        type: "string",
        env: "NC_SMTP_URL",
        arg: "URL",
        help: "The mail server, as the cloud's --smtp (prefer NC_SMTP_URL: it holds a password)",
      },
      "mail-from": {
        type: "string",
        env: "NC_MAIL_FROM",
        arg: "ADDRESS",
        help: "The sender, as the cloud's --mail-from (default alerts@<the public URL's host>)",
      },
      "webhook-proxy": {
        type: "string",
        env: "NC_WEBHOOK_PROXY",
        arg: "URL",
        help:
          "The outbound proxy, as the cloud's --webhook-proxy: the mail server is reached through it unless it is on loopback or in NO_PROXY",
      },
    },
    schema: z.object({
      to: z.string().min(1, "--to: where to send the test email"),
      smtp: z.string().optional(),
      "mail-from": z.string().optional(),
      "webhook-proxy": z.string().optional(),
    }),
    anyStore: true,
    async files(a, dataDir) {
      let smtp;
      let to;
      let proxy;
      try {
        smtp = parseSmtpUrl(a.smtp as string | undefined);
        to = mailRecipients(`mailto:${a.to as string}`);
        proxy = parseWebhookProxy(a["webhook-proxy"] as string | undefined);
      } catch (e) {
        if (e instanceof SmtpUrlError) throw new UsageError(`--smtp / NC_SMTP_URL: ${e.message}`);
        if (e instanceof MailTargetError) throw new UsageError(`--to: ${e.message}`);
        if (e instanceof ProxyError) {
          throw new UsageError(`--webhook-proxy / NC_WEBHOOK_PROXY: ${e.message}`);
        }
        throw e;
      }
      if (!smtp) {
        throw new UsageError(
          "no mail server: give the cloud's own, in NC_SMTP_URL (or --smtp URL)",
        );
      }
      const publicUrl = await recordedPublicUrl(dataDir);
      const from = (a["mail-from"] as string | undefined) ?? defaultMailFrom(publicUrl);
      const mailer = new Mailer(smtp, from, {
        proxy: mailProxyFor(proxy, smtp, noProxyFrom(Deno.env.toObject())),
      });
      progress(
        `sending a test email to ${to.join(", ")} through ${smtp.display}${
          mailer.proxy ? ` (by the proxy ${mailer.proxy})` : ""
        } as ${from}…`,
      );
      const sent = await mailer.send(
        to,
        alertMail(
          JSON.stringify({
            type: "webhook.test",
            at: new Date().toISOString(),
            actor: "connector cloud admin mail test",
            subject: { name: "Test email" },
          }),
          publicUrl,
        ),
      );
      const took = to.filter((t) => !sent.refused.some((r) => r.split(" ")[0] === t));
      return {
        sent: took.join(", "),
        ...(sent.refused.length ? { refused: sent.refused } : {}),
        server: smtp.display,
        ...(mailer.proxy ? { proxy: mailer.proxy } : {}),
        from,
        reply: sent.response,
        note: "The server took it; if it does not arrive, look in the spam folder and at the " +
          "server's own log (a sender it may not use is often dropped after it was taken).",
      };
    },
  },
  backup: {
    summary:
      "Copy the embedded database (consistently, while the cloud runs), the CA and node keys and the cloud secret into a new directory",
    options: {
      out: {
        type: "string",
        arg: "DIR",
        help: "A new (or empty) directory for the backup (required)",
      },
      "secret-key-file": {
        type: "string",
        env: "NC_SECRET_KEY_FILE",
        arg: "FILE",
        help:
          "The cloud secret, when the cloud runs with --secret-key-file (default <data-dir>/cloud-secret.key)",
      },
    },
    schema: z.object({ out: z.string().min(1), "secret-key-file": z.string().min(1).optional() }),
    async files(a, dataDir) {
      const m = await makeBackup({
        dataDir,
        out: a.out as string,
        secretKeyFile: a["secret-key-file"] as string | undefined,
        say: progress,
      });
      return {
        backup: resolve(a.out as string),
        createdAt: m.createdAt,
        schemaVersion: m.schemaVersion,
        counts: m.counts,
        files: m.files.length,
        bytes: m.files.reduce((n, f) => n + f.size, 0),
        note: "It holds the CA keys and the cloud secret: keep it as private as the data " +
          "directory. Compiled executables (downloads/) are not in it.",
      };
    },
  },
  restore: {
    summary:
      "Put a backup back as the data directory (checked first; a directory holding a cloud only with --force, its files set aside)",
    options: {
      from: { type: "string", arg: "DIR", help: "The backup's directory (required)" },
      force: {
        type: "boolean",
        help:
          "Replace a data directory that holds a cloud (stopped); its files move to before-restore-<time>/",
      },
    },
    schema: z.object({ from: z.string().min(1), force: z.boolean().optional() }),
    async files(a, dataDir) {
      const r = await restoreBackup({
        from: a.from as string,
        dataDir,
        force: a.force as boolean | undefined,
        say: progress,
      });
      return {
        restored: r.dataDir,
        backupOf: r.manifest.createdAt,
        schemaVersion: r.manifest.schemaVersion,
        counts: r.manifest.counts,
        ...(r.setAside ? { setAside: r.setAside } : {}),
        next: `start the cloud on it: ${commandHint("cloud", [], { "data-dir": r.dataDir })}`,
        note: `What changed after ${r.manifest.createdAt} is not in it: agents enrolled since ` +
          "enroll again, and agents, users and tokens revoked since are valid again — revoke " +
          "them again. The cloud secret is restored as cloud-secret.key in the data directory; " +
          "a cloud started with --secret-key-file reads another file: copy it there.",
      };
    },
  },
};

async function joinToken(
  store: Store,
  dataDir: string,
  tenantId: string,
  siteId: string,
  ttlMs: number,
): Promise<{ token: string; expiresAt: string }> {
  const site = await store.getSite(tenantId, siteId);
  if (!site) throw new UsageError(`no site ${siteId} in tenant ${tenantId}`);
  const cas = await loadAgentCas(dataDir);
  const { token, expiresAt } = await mintEnrollmentToken(store, {
    tenantId,
    siteId,
    actor: "admin-cli",
    caPin: tokenPins(cas),
    ttlMs,
    now: systemClock.now(),
  });
  return { token, expiresAt: new Date(expiresAt).toISOString() };
}

async function addDevice(
  store: Store,
  a: { tenant: string; site: string; host: string; ports: PortSpec; label?: string },
) {
  const site = await store.getSite(a.tenant, a.site);
  if (!site) throw new UsageError(`no site ${a.site} in tenant ${a.tenant}`);
  const allow = /^(1|true|yes|on)$/i.test(Deno.env.get("NC_ALLOW_LINK_LOCAL_DEVICES") ?? "");
  const refusal = deviceHostRefusal(a.host, allow);
  if (refusal) throw new UsageError(refusal);
  const device = await store.createDevice({
    tenantId: a.tenant,
    siteId: a.site,
    host: a.host,
    ports: a.ports.ports,
    protocols: a.ports.protocols,
    label: a.label ?? "",
  });
  const handles: Record<string, string> = {};
  for (const port of device.ports) {
    const h = await ensureHandle(store, systemClock, {
      tenantId: a.tenant,
      siteId: a.site,
      deviceId: device.id,
      port,
    });
    handles[port] = h.id;
    await store.appendAudit({
      tenantId: a.tenant,
      actor: "admin-cli",
      action: "handle.mint",
      target: h.id,
      detail: { device: device.id, port },
    });
  }
  await store.appendAudit({
    tenantId: a.tenant,
    actor: "admin-cli",
    action: "device.create",
    target: device.id,
    detail: { host: a.host, ports: device.ports },
  });
  await announceChange(store);
  return {
    deviceId: device.id,
    host: device.host,
    ports: device.ports,
    loopbackIp: device.loopbackIp,
    handles,
  };
}

async function apiToken(store: Store, tenantId: string, userId: string, name: string) {
  const user = await store.getUser(userId);
  if (!user || user.tenantId !== tenantId) {
    throw new UsageError(`no user ${userId} in tenant ${tenantId}`);
  }
  const token = mintToken("nt");
  await store.createApiToken({ hash: await hashToken(token), tenantId, userId, name });
  await store.appendAudit({
    tenantId,
    actor: "admin-cli",
    action: "api_token.mint",
    target: userId,
    detail: { name },
  });
  return token;
}

const MIN_PASSWORD = MIN_PASSWORD_LENGTH;

/**
 * A sign-in password from standard input (a terminal gets a prompt without echo), checked
 * before anything is written, as a scrypt hash.
 */
async function readPassword(email: string): Promise<string> {
  const pw = await promptPassword(
    `Password for ${email} (at least ${MIN_PASSWORD} characters, not shown; Enter to finish): `,
  );
  if (pw.length < MIN_PASSWORD) {
    throw new UsageError(`the password must have at least ${MIN_PASSWORD} characters`);
  }
  return await hashPassword(pw);
}

/** The tenant's user with this email, or a usage error naming what exists. */
async function tenantUser(store: Store, tenantId: string, email: string) {
  const u = await store.getUserByEmail(email);
  if (!u || u.tenantId !== tenantId) throw new UsageError(`no user ${email} in tenant ${tenantId}`);
  return u;
}

const roleSchema = z.enum(["superadmin", "admin", "operator", "viewer"]);

const COMMANDS: Record<string, Command> = {
  "tenant create": {
    summary: "Create a tenant",
    options: { name: { type: "string", arg: "NAME", help: "Tenant name (required)" } },
    schema: z.object({ name: z.string().min(1).max(200) }),
    async run(store, a) {
      const t = await store.createTenant({ name: a.name as string });
      return { tenantId: t.id, name: t.name };
    },
  },
  "tenant list": {
    summary: "List tenants",
    options: {},
    schema: z.object({}),
    async run(store) {
      return { tenants: await store.listTenants() };
    },
  },
  "site create": {
    summary: "Create a site in a tenant",
    options: {
      tenant: { type: "string", arg: "ID", help: "Tenant id (required)" },
      name: { type: "string", arg: "NAME", help: "Site name (required)" },
    },
    schema: z.object({ tenant: id, name: z.string().min(1).max(200) }),
    async run(store, a) {
      if (!await store.getTenant(a.tenant as string)) throw new UsageError(`no tenant ${a.tenant}`);
      const s = await store.createSite({ tenantId: a.tenant as string, name: a.name as string });
      return { siteId: s.id, name: s.name };
    },
  },
  "site list": {
    summary: "List a tenant's sites",
    options: { tenant: { type: "string", arg: "ID", help: "Tenant id (required)" } },
    schema: z.object({ tenant: id }),
    async run(store, a) {
      return { sites: await store.listSites(a.tenant as string) };
    },
  },
  "device add": {
    summary: "Add a device with its ports (mints a handle per port, updates the allowlist)",
    options: {
      tenant: { type: "string", arg: "ID", help: "Tenant id (required)" },
      site: { type: "string", arg: "ID", help: "Site id (required)" },
      host: { type: "string", arg: "HOST", help: "LAN IP or host name (required)" },
      ports: {
        type: "string",
        arg: "LIST",
        help: "Ports, comma-separated, each optionally /http|https|rtsp|ssh|tcp (required)",
      },
      label: { type: "string", arg: "TEXT", help: "Label shown to operators" },
    },
    schema: z.object({
      tenant: id,
      site: id,
      host,
      ports: portList,
      label: z.string().max(200).optional(),
    }),
    run: (store, a) => addDevice(store, a as Parameters<typeof addDevice>[1]),
  },
  "device list": {
    summary: "List a site's devices and their handles",
    options: {
      tenant: { type: "string", arg: "ID", help: "Tenant id (required)" },
      site: { type: "string", arg: "ID", help: "Site id (required)" },
    },
    schema: z.object({ tenant: id, site: id }),
    async run(store, a) {
      const devices = await store.listDevices(a.tenant as string, a.site as string);
      const out = [];
      for (const d of devices) {
        const handles: Record<string, string | null> = {};
        for (const p of d.ports) handles[p] = (await store.findHandle(d.id, p))?.id ?? null;
        out.push({ ...d, handles });
      }
      return { devices: out };
    },
  },
  "device remove": {
    summary: "Remove a device (its handles stop working, the allowlist shrinks)",
    options: {
      tenant: { type: "string", arg: "ID", help: "Tenant id (required)" },
      device: { type: "string", arg: "ID", help: "Device id (required)" },
    },
    schema: z.object({ tenant: id, device: id }),
    async run(store, a) {
      const ok = await store.deleteDevice(a.tenant as string, a.device as string);
      if (!ok) throw new UsageError(`no device ${a.device} in tenant ${a.tenant}`);
      await store.appendAudit({
        tenantId: a.tenant as string,
        actor: "admin-cli",
        action: "device.delete",
        target: a.device as string,
        detail: {},
      });
      await announceChange(store);
      return { removed: a.device };
    },
  },
  "enroll-token": {
    summary: "Mint a one-shot enrollment token for a site (shown once; carries the CA pin)",
    options: {
      tenant: { type: "string", arg: "ID", help: "Tenant id (required)" },
      site: { type: "string", arg: "ID", help: "Site id (required)" },
      ttl: { type: "string", arg: "DURATION", default: "24h", help: "Lifetime" },
    },
    schema: z.object({ tenant: id, site: id, ttl: duration.prefault("24h") }),
    run: (store, a, dataDir) =>
      joinToken(store, dataDir, a.tenant as string, a.site as string, a.ttl as number),
  },
  "user create": {
    summary: "Create a user in a tenant",
    options: {
      tenant: { type: "string", arg: "ID", help: "Tenant id (required)" },
      email: { type: "string", arg: "EMAIL", help: "Email (required)" },
      role: {
        type: "string",
        arg: "ROLE",
        default: "operator",
        help: "superadmin, admin, operator or viewer",
      },
      "password-stdin": { type: "boolean", help: "Read the sign-in password from standard input" },
    },
    schema: z.object({
      tenant: id,
      email: z.email(),
      role: roleSchema.default("operator"),
      "password-stdin": z.boolean().optional(),
    }),
    async run(store, a) {
      if (!await store.getTenant(a.tenant as string)) throw new UsageError(`no tenant ${a.tenant}`);
      if (await store.getUserByEmail(a.email as string)) {
        throw new UsageError(`a user with email ${a.email} exists`);
      }
      const passwordHash = a["password-stdin"] ? await readPassword(a.email as string) : "";
      const u = await store.createUser({
        tenantId: a.tenant as string,
        email: a.email as string,
        passwordHash,
        role: a.role as "operator",
      });
      return { userId: u.id, email: u.email, role: u.role, canSignIn: passwordHash !== "" };
    },
  },
  "user list": {
    summary: "List a tenant's users with role and state",
    options: { tenant: { type: "string", arg: "ID", help: "Tenant id (required)" } },
    schema: z.object({ tenant: id }),
    async run(store, a) {
      const users = await store.listUsers(a.tenant as string);
      return {
        users: users.map((u) => ({
          userId: u.id,
          email: u.email,
          role: u.role,
          canSignIn: u.passwordHash !== "" && u.disabledAt === null,
          disabled: u.disabledAt !== null,
        })),
      };
    },
  },
  "user disable": {
    summary: "Disable a user (sign-in refused, sessions and API tokens stop working)",
    options: {
      tenant: { type: "string", arg: "ID", help: "Tenant id (required)" },
      email: { type: "string", arg: "EMAIL", help: "The user's email (required)" },
      enable: { type: "boolean", help: "Enable the user again instead" },
    },
    schema: z.object({ tenant: id, email: z.email(), enable: z.boolean().optional() }),
    async run(store, a) {
      const u = await tenantUser(store, a.tenant as string, a.email as string);
      await store.updateUser(u.tenantId, u.id, {
        disabledAt: a.enable ? null : systemClock.now(),
      });
      await store.appendAudit({
        tenantId: u.tenantId,
        actor: "admin-cli",
        action: a.enable ? "user.enable" : "user.disable",
        target: u.id,
        detail: { email: u.email },
      });
      await announceChange(store);
      return { userId: u.id, email: u.email, disabled: !a.enable };
    },
  },
  "user set-role": {
    summary: "Change a user's role",
    options: {
      tenant: { type: "string", arg: "ID", help: "Tenant id (required)" },
      email: { type: "string", arg: "EMAIL", help: "The user's email (required)" },
      role: {
        type: "string",
        arg: "ROLE",
        help: "superadmin, admin, operator or viewer (required)",
      },
    },
    schema: z.object({ tenant: id, email: z.email(), role: roleSchema }),
    async run(store, a) {
      const u = await tenantUser(store, a.tenant as string, a.email as string);
      await store.updateUser(u.tenantId, u.id, { role: a.role as "admin" });
      await store.appendAudit({
        tenantId: u.tenantId,
        actor: "admin-cli",
        action: "user.role",
        target: u.id,
        detail: { email: u.email, from: u.role, to: a.role },
      });
      await announceChange(store);
      return { userId: u.id, email: u.email, role: a.role };
    },
  },
  "user reset-password": {
    summary: "Set a user's sign-in password (read from standard input, never a flag)",
    options: {
      tenant: { type: "string", arg: "ID", help: "Tenant id (required)" },
      email: { type: "string", arg: "EMAIL", help: "The user's email (required)" },
    },
    schema: z.object({ tenant: id, email: z.email() }),
    async run(store, a) {
      const u = await tenantUser(store, a.tenant as string, a.email as string);
      const passwordHash = await readPassword(u.email);
      await store.updateUser(u.tenantId, u.id, { passwordHash });
      await store.appendAudit({
        tenantId: u.tenantId,
        actor: "admin-cli",
        action: "user.password_reset",
        target: u.id,
        detail: { email: u.email },
      });
      return { userId: u.id, email: u.email, canSignIn: true };
    },
  },
  "token create": {
    summary: "Mint a per-user API token nt_… (shown once)",
    options: {
      tenant: { type: "string", arg: "ID", help: "Tenant id (required)" },
      user: { type: "string", arg: "ID", help: "User id (required)" },
      name: { type: "string", arg: "TEXT", default: "cli", help: "What the token is for" },
    },
    schema: z.object({ tenant: id, user: id, name: z.string().max(100).default("cli") }),
    async run(store, a) {
      return {
        token: await apiToken(store, a.tenant as string, a.user as string, a.name as string),
      };
    },
  },
  "agent list": {
    summary: "List a tenant's agents",
    options: { tenant: { type: "string", arg: "ID", help: "Tenant id (required)" } },
    schema: z.object({ tenant: id }),
    async run(store, a) {
      const agents = await store.listAgents(a.tenant as string);
      const out = [];
      for (const ag of agents) out.push({ ...ag, presence: await store.getPresence(ag.id) });
      return { agents: out };
    },
  },
  "agent revoke": {
    summary: "Revoke an agent: its control stream and tunnels are cut at once",
    options: {
      tenant: { type: "string", arg: "ID", help: "Tenant id (required)" },
      agent: { type: "string", arg: "ID", help: "Agent id (required)" },
    },
    schema: z.object({ tenant: id, agent: id }),
    async run(store, a) {
      const ok = await store.revokeAgent(a.tenant as string, a.agent as string);
      if (!ok) throw new UsageError(`no active agent ${a.agent} in tenant ${a.tenant}`);
      await store.appendAudit({
        tenantId: a.tenant as string,
        actor: "admin-cli",
        action: "agent.revoke",
        target: a.agent as string,
        detail: {},
      });
      await announceChange(store);
      return { revoked: a.agent };
    },
  },
  "ca rotate": {
    summary:
      "Move a CA rotation to a phase: init, update-clients, update-servers, standby (or rollback)",
    options: {
      ca: { type: "string", arg: "agent|internal", help: "Which CA (required)" },
      phase: { type: "string", arg: "PHASE", help: PHASES.join(" | ") },
    },
    schema: z.object({
      ca: z.enum(CA_KINDS, "expected --ca agent or --ca internal"),
      phase: z.enum(PHASES, `expected one of ${PHASES.join(", ")}`),
    }),
    async run(store, a, dataDir) {
      const kind = a.ca as CaKind;
      let r;
      try {
        r = await rotateCa(dataDir, kind, a.phase as Phase);
      } catch (e) {
        if (e instanceof RotationError) throw new UsageError(e.message);
        throw e;
      }
      await store.appendAudit({
        tenantId: null,
        actor: "admin-cli",
        action: "ca.rotate",
        target: `${kind}-ca`,
        detail: { phase: r.phase, oldPin: r.oldPin, newPin: r.newPin },
      });
      return { ...r, ...await caStatus(store, dataDir, kind) };
    },
  },
  "ca status": {
    summary:
      "Show a CA's rotation phase (and, for the agent CA, how many agents hold each CA's certificates)",
    options: { ca: { type: "string", arg: "agent|internal", default: "agent", help: "Which CA" } },
    schema: z.object({ ca: z.enum(CA_KINDS).default("agent") }),
    run: (store, a, dataDir) => caStatus(store, dataDir, a.ca as CaKind),
  },
  "node-cert": {
    summary:
      "Issue another node's certificate from the internal CA: node.pem, node.key (0600) and internal-ca.pem into DIR",
    options: {
      node: { type: "string", arg: "NAME", help: "The node's --node name (required)" },
      out: { type: "string", arg: "DIR", help: "Where to write the files (required)" },
      hostnames: {
        type: "string",
        arg: "LIST",
        help: "Names in the certificate (default: the node name)",
      },
    },
    schema: z.object({
      node: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/, "expected a node name"),
      out: z.string().min(1),
      hostnames: z.string().max(1000).optional(),
    }),
    async run(store, a, dataDir) {
      const cas = await loadCas(dataDir, "internal");
      if (!cas.renewals.keyPem) {
        throw new UsageError(
          `no internal CA key in ${join(dataDir, "ca")}: run this on a node that holds it`,
        );
      }
      const node = a.node as string;
      const hostnames = a.hostnames
        ? (a.hostnames as string).split(",").map((h) => h.trim()).filter(Boolean)
        : [node];
      const out = a.out as string;
      const pair = await issueNodeLeaf(cas.renewals, node, hostnames);
      await Deno.mkdir(out, { recursive: true, mode: 0o700 });
      await writePair(out, "node", pair); // node.key 0600, written first
      await writePublicFile(join(out, "internal-ca.pem"), cas.trustPem);
      const info = certInfo(pair.certPem);
      await store.appendAudit({
        tenantId: null,
        actor: "admin-cli",
        action: "node.cert.issue",
        target: node,
        detail: { serial: info.serialHex, notAfter: info.notAfter.toISOString(), hostnames },
      });
      return {
        node,
        serial: info.serialHex,
        notAfter: info.notAfter.toISOString(),
        files: ["node.pem", "node.key", "internal-ca.pem"].map((f) => join(out, f)),
      };
    },
  },
  nodes: {
    summary:
      "List the cloud nodes sharing this store: version, last seen, and the settings in which running nodes differ",
    options: {},
    schema: z.object({}),
    async run(store) {
      const now = Date.now();
      const nodes = await store.listNodes();
      return {
        nodes: nodes.map((n) => ({
          name: n.name,
          running: isRunning(n, now),
          version: n.version,
          startedAt: new Date(n.startedAt).toISOString(),
          seenAt: new Date(n.seenAt).toISOString(),
          // Only a node that said it stopped (graceful stop); a crashed one is just not running.
          ...(n.stoppedAt === null ? {} : { stoppedAt: new Date(n.stoppedAt).toISOString() }),
          internal: n.internal || "(none)",
          settings: n.settings,
        })),
        differences: nodeDifferences(nodes.filter((n) => isRunning(n, now))),
      };
    },
  },
  "node forget": {
    summary:
      "Remove a decommissioned node from `nodes` now (running nodes forget one not seen for 7 days; a running node announces itself again)",
    options: { node: { type: "string", arg: "NAME", help: "The node's --node name (required)" } },
    schema: z.object({ node: z.string().min(1).max(63) }),
    async run(store, a) {
      const name = a.node as string;
      if (!(await store.deleteNode(name))) {
        const known = (await store.listNodes()).map((n) => n.name);
        throw new UsageError(
          `no node "${name}" in the store (known: ${known.length ? known.join(", ") : "none"})`,
        );
      }
      await store.appendAudit({
        tenantId: null,
        actor: "admin-cli",
        action: "node.forget",
        target: name,
        detail: {},
      });
      return { forgotten: name };
    },
  },
  audit: {
    summary: "Show the audit log, newest first",
    options: {
      tenant: { type: "string", arg: "ID", help: "Only this tenant (default: all)" },
      action: { type: "string", arg: "ACTION", help: "Only this action, e.g. tunnel.open" },
      limit: { type: "string", arg: "N", default: "50", help: "How many entries (max 1000)" },
    },
    schema: z.object({
      tenant: id.optional(),
      action: z.string().max(100).optional(),
      limit: z.coerce.number().int().min(1).max(1000).default(50),
    }),
    async run(store, a) {
      const entries = await store.listAudit({
        tenantId: a.tenant as string | undefined,
        action: a.action as string | undefined,
        limit: a.limit as number,
      });
      return { entries: entries.map((e) => ({ ...e, at: new Date(e.at).toISOString() })) };
    },
  },
  quickstart: {
    summary:
      "A tenant, site, admin user, API token, device and enrollment token; again adds to them",
    options: {
      tenant: { type: "string", arg: "NAME", default: "Demo", help: "Tenant name (or id)" },
      site: { type: "string", arg: "NAME", default: "Site 1", help: "Site name" },
      email: { type: "string", arg: "EMAIL", default: "admin@example.com", help: "Admin email" },
      host: { type: "string", arg: "HOST", default: "127.0.0.1", help: "Device LAN host" },
      ports: {
        type: "string",
        arg: "LIST",
        default: "22",
        help: "Device ports, e.g. 22 or 80/http,554/rtsp (default protocol from the number)",
      },
      "password-stdin": {
        type: "boolean",
        help:
          `Read the admin's web UI password from standard input (${MIN_PASSWORD}+ characters; a terminal prompts without echo)`,
      },
    },
    schema: z.object({
      "password-stdin": z.boolean().optional(),
      tenant: z.string().min(1).max(200).default("Demo"),
      site: z.string().min(1).max(200).default("Site 1"),
      email: z.email().default("admin@example.com"),
      host: host.default("127.0.0.1"),
      ports: portList.prefault("22"),
    }),
    run: (store, a, dataDir) => quickstart(store, a as unknown as QuickstartArgs, dataDir),
  },
};

interface QuickstartArgs {
  "password-stdin"?: boolean;
  tenant: string;
  site: string;
  email: string;
  host: string;
  ports: PortSpec;
}

/**
 * Everything a first tunnel needs, idempotent: a tenant called `--tenant` that exists (by name
 * or id) is reused, as are its site of that name, the admin and a device on the same host (new
 * ports are added to it). Every check (tenant name, email, password) runs before the first write.
 */
async function quickstart(store: Store, a: QuickstartArgs, dataDir: string) {
  const tenants = (await store.listTenants()).filter((t) =>
    t.id === a.tenant || t.name === a.tenant
  );
  if (tenants.length > 1) {
    throw new UsageError(
      `${tenants.length} tenants are named "${a.tenant}" (${
        tenants.map((t) => t.id).join(", ")
      }); ` +
        `pass --tenant ID to add to one of them`,
    );
  }
  let tenant = tenants[0] ?? null;
  const existingUser = await store.getUserByEmail(a.email);
  if (existingUser && existingUser.tenantId !== tenant?.id) {
    const home = await store.getTenant(existingUser.tenantId);
    throw new UsageError(
      `${a.email} already belongs to tenant "${home?.name}" (${existingUser.tenantId}); ` +
        `run quickstart with --tenant ${existingUser.tenantId} to add to it, or choose another --email`,
    );
  }
  // The password is read and checked before anything is written.
  const passwordHash = a["password-stdin"] ? await readPassword(a.email) : undefined;
  const reused: string[] = [];
  if (tenant) reused.push(`tenant "${tenant.name}"`);
  else tenant = await store.createTenant({ name: a.tenant });
  let site = (await store.listSites(tenant.id)).find((s) => s.name === a.site);
  if (site) reused.push(`site "${site.name}"`);
  else site = await store.createSite({ tenantId: tenant.id, name: a.site });
  let user = existingUser;
  if (user) {
    reused.push(`user ${user.email}`);
    if (passwordHash) {
      await store.updateUser(tenant.id, user.id, { passwordHash });
      await store.appendAudit({
        tenantId: tenant.id,
        actor: "admin-cli",
        action: "user.password_reset",
        target: user.id,
        detail: { email: user.email },
      });
    }
  } else {
    user = await store.createUser({
      tenantId: tenant.id,
      email: a.email,
      passwordHash: passwordHash ?? "",
      role: "admin",
    });
  }
  const same = (await store.listDevices(tenant.id, site.id)).find((d) => d.host === a.host);
  let device;
  if (same) {
    reused.push(`device ${same.host}`);
    device = await addPorts(store, same, a.ports);
  } else {
    device = await addDevice(store, {
      tenant: tenant.id,
      site: site.id,
      host: a.host,
      ports: a.ports,
    });
  }
  const enroll = await joinToken(store, dataDir, tenant.id, site.id, 24 * 3600e3);
  const token = await apiToken(store, tenant.id, user.id, "quickstart");
  const cloud = await recordedPublicUrl(dataDir);
  const port = device.ports[0];
  return {
    ...(reused.length ? { reused: reused.join(", ") } : {}),
    tenantId: tenant.id,
    siteId: site.id,
    userId: user.id,
    email: user.email,
    canSignIn: passwordHash !== undefined || user.passwordHash !== "",
    apiToken: token,
    enrollmentToken: enroll.token,
    device,
    next: [
      commandHint("agent", ["enroll", "--cloud", cloud], {}, undefined, { token: enroll.token }),
      commandHint("agent", ["run"]),
      commandHint(
        "tunnel",
        [
          "open",
          device.handles[port],
          "--cloud",
          cloud,
          "--listen",
          `127.0.0.1:${localPort(port)}`,
        ],
        {},
        undefined,
        { token },
      ),
      ...(passwordHash !== undefined || user.passwordHash !== ""
        ? [`sign in at ${cloud}/ as ${user.email}`]
        : []),
    ],
  };
}

/** A local port for `tunnel open` in the printed hint: 2222 for SSH, else 20000 + port mod 10000. */
function localPort(port: number): number {
  return port === 22 ? 2222 : 20000 + (port % 10000);
}

/**
 * Adds the ports a device lacks (minting their handles) and marks the ports given with a protocol;
 * the device as addDevice reports it.
 */
async function addPorts(store: Store, d: Device, spec: PortSpec) {
  const missing = spec.ports.filter((p) => !d.ports.includes(p));
  if (missing.length || Object.keys(spec.protocols).length) {
    await store.updateDevice(d.tenantId, d.id, {
      ports: [...d.ports, ...missing],
      protocols: spec.protocols,
    });
    await store.appendAudit({
      tenantId: d.tenantId,
      actor: "admin-cli",
      action: "device.update",
      target: d.id,
      detail: { ports: [...d.ports, ...missing].sort((x, y) => x - y) },
    });
  }
  const cur = (await store.getDevice(d.tenantId, d.id))!;
  const handles: Record<string, string> = {};
  for (const port of cur.ports) {
    handles[port] = (await ensureHandle(store, systemClock, {
      tenantId: cur.tenantId,
      siteId: cur.siteId,
      deviceId: cur.id,
      port,
    })).id;
  }
  await announceChange(store);
  return {
    deviceId: cur.id,
    host: cur.host,
    ports: cur.ports,
    loopbackIp: cur.loopbackIp,
    handles,
  };
}

/** Per setting that running nodes do not agree on: "audit-retention-days: node-1 90, node-2 off". */
function nodeDifferences(running: NodeRecord[]): string[] {
  const keys = new Set(running.flatMap((n) => Object.keys(n.settings)));
  const out: string[] = [];
  for (const k of [...keys].sort()) {
    const values = running.map((n) => `${n.name} ${n.settings[k] ?? "(unknown)"}`);
    if (new Set(running.map((n) => n.settings[k])).size > 1) out.push(`${k}: ${values.join(", ")}`);
  }
  return out;
}

function adminHelp(): string {
  const all = { ...COMMANDS, ...FILE_COMMANDS };
  const w = Math.max(...Object.keys(all).map((n) => n.length)) + 2;
  const rows = Object.entries(all).map(([n, c]) => `  ${n.padEnd(w)}${c.summary}`);
  return `connector cloud admin — manage the cloud from the shell

Usage:
  connector cloud admin <command> [options]     (each command has --help)

Commands:
${rows.join("\n")}

Common options:
${renderOptions(common)}

Secrets (enrollment tokens, API tokens) are printed once; only their hashes are stored.
Changes reach connected agents within a second, also when the cloud is running.

Quick start (a tenant with one SSH device on 127.0.0.1:22):
  connector cloud admin quickstart --ports 22
  echo <enrollmentToken> | connector agent enroll --cloud http://localhost:8080 --token -
  connector agent run
  echo <apiToken> | connector tunnel open <handle> --cloud http://localhost:8080 --token - \\
      --listen 127.0.0.1:2222
`;
}

/** Entry point of `connector cloud admin`. */
export async function adminMain(argv: string[]): Promise<number> {
  const two = `${argv[0]} ${argv[1]}`;
  const name = argv[0] && (COMMANDS[two] ?? FILE_COMMANDS[two]) ? two : argv[0];
  const cmd: Command | FileCommand | undefined = name
    ? COMMANDS[name] ?? FILE_COMMANDS[name]
    : undefined;
  if (!cmd) {
    if (!name || name === "--help" || name === "-h" || name === "help") {
      console.log(adminHelp());
      return 0;
    }
    throw new UsageError(
      `unknown admin command "${argv.slice(0, 2).join(" ")}" (see connector cloud admin --help)`,
    );
  }
  const rest = argv.slice(name.split(" ").length);
  const specs = { ...cmd.options, ...common };
  const { values, positionals } = parseFlags(rest, specs);
  if (values.help) {
    console.log(
      `connector cloud admin ${name} — ${cmd.summary}\n\nOptions:\n${renderOptions(specs)}`,
    );
    return 0;
  }
  if (positionals.length) throw new UsageError(`unexpected argument "${positionals[0]}"`);
  const { "data-dir": dd, store: storeArg, json, ...own } = values;
  const args = validateConfig(cmd.schema, own, specs) as Record<string, unknown>;
  const dataDir = (dd as string | undefined) ?? "./data";
  const storeUrl = validateConfig(
    z.object({ store: storeUrlSchema.default("sqlite:") }),
    { store: storeArg },
    specs,
  ).store;
  if (isFileCommand(cmd)) {
    if (storeUrl !== "sqlite:" && !cmd.anyStore) {
      throw new UsageError(
        `${name} works on the embedded store in the data directory (--store sqlite:); a ` +
          "MongoDB store is backed up and restored with mongodump / mongorestore, and each " +
          "node's data directory (ca/, tls/, cloud-secret.key) copied beside it",
      );
    }
    // A BackupError is the operator's message as it is: "error: …", exit 1.
    const result = await cmd.files(args, dataDir);
    if (json) console.log(JSON.stringify(result, null, 2));
    else printHuman(result);
    return 0;
  }
  const raw = await openStore(storeUrl, dataDir);
  // What the CLI revokes raises the same events as the API (credential.revoked, …).
  const store = withAuditEvents(
    raw,
    new EventProducer({ store: raw, log: createLogger({ role: "admin", level: "warn" }) }),
  );
  try {
    await ensureCas({ dataDir });
    const result = await cmd.run(store, args, dataDir);
    if (json) console.log(JSON.stringify(result, null, 2));
    else printHuman(result);
  } finally {
    await store.close();
  }
  return 0;
}

function printHuman(result: Record<string, unknown>): void {
  for (const line of formatHuman(result)) console.log(line);
  if ("token" in result || "apiToken" in result || "enrollmentToken" in result) {
    console.log("\nCopy the token now: it is not shown again (only its hash is stored).");
  }
}
