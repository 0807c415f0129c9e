/**
 * Every request body and query the API accepts, in one place (schema first): the routes
 * validate with these, and `/api/openapi.json` is generated from the same objects, so the
 * document cannot drift from what the server enforces.
 * @module
 */
import { terminalPolicyBody } from "../access/terminal/policy.ts";
import { z } from "zod";
import { cidrList } from "../tenancy/auth.ts";
import { enrollRequest } from "./enroll.ts";
import { EVENT_TYPES, type EventType, MAX_ALERT_QUIET_S, WEBHOOK_FORMATS } from "../store/store.ts";
import { pageQuery } from "./validate.ts";
import { PORT_PROTOCOLS } from "../store/port_protocols.ts";
import { HHMM, isTimeZone } from "../events/schedule.ts";
import { DIGEST_EACH_MAX, DIGEST_MINUTES } from "../events/alert_digest.ts";

const port = z.number().int().min(1).max(65535);
const host = z.string().trim().min(1).max(253).regex(
  /^[A-Za-z0-9.:_-]+$/,
  "expected an IP address or host name",
);
const guid = z.string().trim().regex(
  /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/,
  "expected a GUID",
).transform((g) => g.toLowerCase());
/** A port's protocol, case-insensitive. */
export const portProtocol = z.preprocess(
  (x) => typeof x === "string" ? x.trim().toLowerCase() : x,
  z.enum(PORT_PROTOCOLS, {
    error: (i) =>
      `unknown protocol ${JSON.stringify(i.input)}: expected one of ${PORT_PROTOCOLS.join(", ")}`,
  }),
);
/** Protocols by port number (`{"8000": "http"}`): a port named must be one of the device's. */
const protocolMap = z.record(
  z.string().regex(/^[1-9][0-9]{0,4}$/, "expected a port number as the key"),
  portProtocol,
).transform((m) => Object.fromEntries(Object.entries(m).map(([k, v]) => [Number(k), v])));
/**
 * A device-side RTSP stream path as it follows the camera's address in its RTSP URL, query
 * included (`/Streaming/Channels/101`, Dahua's `/cam/realmonitor?channel=1&subtype=0`): printable
 * ASCII, no spaces, no fragment (it is printed in consoles and terminals).
 */
const streamPath = z.string().max(2000).regex(
  /^[\x21-\x22\x24-\x7e]*$/,
  "a path without spaces or fragment",
);
const siteIds = z.array(z.string().min(1).max(64)).max(100);

/** Sign in. */
export const loginBody = z.object({
  email: z.email().max(254),
  password: z.string().min(1).max(1024),
});
/** Superadmin tenant switch. */
export const switchTenantBody = z.object({ tenantId: z.string().min(1).max(64) });
/** New API token. */
export const tokenBody = z.object({ name: z.string().trim().min(1).max(100) });
/** New site. */
export const siteBody = z.object({ name: z.string().trim().min(1).max(200) });

/** The longest a site's alerts can be paused, in minutes (a week). */
export const MAX_ALERTS_PAUSE_MIN = 7 * 24 * 60;

/** `POST /api/sites/{id}/alerts/pause`: for how many minutes (maintenance). */
export const alertsPauseBody = z.object({
  minutes: z.number().int().min(1).max(
    MAX_ALERTS_PAUSE_MIN,
    `at most ${MAX_ALERTS_PAUSE_MIN} minutes (a week): pause again when it ends`,
  ),
}).strict();

/** The longest a device's alerts can be snoozed, in minutes (a day: a storm, a night of rain). */
export const MAX_SNOOZE_MIN = 24 * 60;

/** `POST /api/devices/{id}/alerts/snooze`: for how many minutes. */
export const deviceSnoozeBody = z.object({
  minutes: z.number().int().min(1).max(
    MAX_SNOOZE_MIN,
    `at most ${MAX_SNOOZE_MIN} minutes (a day): snooze again when it ends`,
  ),
}).strict();

/** `PATCH /api/agents/{id}`: the agent's console name. */
export const agentPatch = z.object({ name: z.string().trim().min(1).max(200) });

/** `POST /api/users`: invite a user of the tenant. */
export const inviteBody = z.object({
  email: z.email().max(254),
  role: z.enum(["superadmin", "admin", "operator", "viewer"]).default("operator"),
});

/** `PATCH /api/users/{id}`: change role and/or disable (true) or enable (false). */
export const userPatch = z.object({
  role: z.enum(["superadmin", "admin", "operator", "viewer"]).optional(),
  disabled: z.boolean().optional(),
}).refine((b) => b.role !== undefined || b.disabled !== undefined, "nothing to change");

/** `POST /invite/{token}` (form): the new password, twice. */
export const invitePasswordBody = z.object({
  password: z.string().min(10, "the password must have at least 10 characters").max(1024),
  confirm: z.string().max(1024),
}).refine((b) => b.password === b.confirm, "the two passwords differ");
/** New device. */
export const deviceBody = z.object({
  host,
  ports: z.array(port).min(1).max(64),
  /** What each port speaks; a port not named gets the default of its number. */
  protocols: protocolMap.optional(),
  manufacturer: z.string().max(100).optional(),
  model: z.string().max(100).optional(),
  label: z.string().max(200).optional(),
  notes: z.string().max(2000).optional(),
  /** Manufacturer serial an embedded agent will claim the device by (POST /claim). */
  serial: z.string().trim().regex(
    /^[A-Za-z0-9._-]{4,64}$/,
    "expected 4 to 64 letters, digits, dots, dashes or underscores",
  ).optional(),
});
/** Stream paths by port (`{"554": "/path"}`); an empty path forgets the port's path. */
const pathsByPort = z.record(z.string().regex(/^[1-9][0-9]{0,4}$/), streamPath)
  .transform((m) => Object.fromEntries(Object.entries(m).map(([k, v]) => [Number(k), v])));
/** Device edit (the serial is set at creation only). */
export const devicePatch = deviceBody.omit({ serial: true }).extend({
  /** RTSP stream paths by port; an empty path forgets the port's path. */
  streamPaths: pathsByPort.optional(),
  /** The cameras' sub-stream paths by port (the live grid and thumbnails play them). */
  subStreamPaths: pathsByPort.optional(),
  /** Subscribe to the camera's ONVIF events: `camera.motion`, `camera.tamper`, `camera.input`. */
  motionAlerts: z.boolean().optional(),
  /** After a camera alert, how long the same alert raises nothing new (seconds; 0: every time). */
  alertQuietSeconds: z.number().int().min(0).max(MAX_ALERT_QUIET_S).optional(),
  /** Whether the live view plays the camera's sound (false: never, for any viewer). */
  liveSound: z.boolean().optional(),
}).partial().refine(
  (p) => Object.keys(p).length > 0,
  "nothing to change",
);
/** `GET /api/sites/{id}/devices`: a page (`limit`, `cursor`) of the devices matching `q`. */
export const deviceListQuery = pageQuery.extend({ q: z.string().max(200).optional() });
/** `GET /api/agents`: a page (`limit`, `cursor`) of the agents matching `q`. */
export const agentListQuery = deviceListQuery;
/** `GET /api/sites`: a page (`limit`, `cursor`) of the sites whose name contains `q`. */
export const siteListQuery = deviceListQuery;
/** The `next` of a reachability page: the pair it ended with, opaque to clients (base64url). */
export function reachabilityCursor(pair: { host: string; port: number }): string {
  return btoa(JSON.stringify([pair.host, pair.port])).replace(/\+/g, "-").replace(/\//g, "_")
    .replace(/=+$/, "");
}
/**
 * `GET /api/sites/{id}/reachability`: a page of the site's port states (`limit`, at most and by
 * default 1000; `cursor`, the previous page's `next`; `state=up|down` for only those).
 */
export const reachabilityQuery = z.object({
  limit: z.coerce.number().int().min(1).max(1000).default(1000),
  cursor: z.string().max(400).regex(/^[A-Za-z0-9_-]+$/).transform((s, ctx) => {
    try {
      const [host, port] = JSON.parse(atob(s.replace(/-/g, "+").replace(/_/g, "/")));
      if (typeof host === "string" && Number.isInteger(port)) return { host, port: port as number };
    } catch { /* below */ }
    ctx.addIssue({ code: "custom", message: "not a cursor this list gave (use its next)" });
    return z.NEVER;
  }).optional(),
  state: z.enum(["up", "down"]).optional(),
});
/** Bulk add by single IP, range or CIDR. */
export const bulkBody = z.object({
  range: z.string().trim().min(1).max(100),
  protocols: z.array(z.enum(["http", "https", "rtsp", "ssh"])).max(4).default([]),
  ports: z.array(port).min(1).max(64).optional(),
  /** What each port speaks (`{"8000": "http"}`); a port not named gets its default. */
  portProtocols: protocolMap.optional(),
});
/** New CLI session for yourself. */
export const cliSessionBody = z.object({ siteIds: siteIds.default([]) });
/** New partner API key. */
export const apiKeyBody = z.object({
  name: z.string().trim().min(1).max(100),
  allowed_cidr: z.string().max(64).refine(
    (x) => cidrList([x]) !== null,
    "expected a CIDR like 198.51.100.0/24",
  ).optional(),
});
/** Partner-minted CLI session. */
export const partnerSessionBody = z.object({
  external_operator_id: z.string().trim().min(1).max(200),
  operator_display_name: z.string().trim().min(1).max(200),
  sites: siteIds.optional(),
});
/** Onboard a tenant with its first license. */
export const onboardBody = z.object({ name: z.string().trim().min(1).max(200), license: guid });
/** Rotate in a license. */
export const licenseBody = z.object({ license: guid });
/** Audit log query. */
export const auditQuery = z.object({
  action: z.string().max(100).optional(),
  actor: z.string().max(200).optional(),
  target: z.string().max(200).optional(),
  before: z.coerce.number().int().positive().optional(),
  limit: z.coerce.number().int().min(1).max(1000).default(100),
  /** Superadmins only: every tenant's entries. */
  all: z.enum(["1", "true"]).optional(),
});

/** An SSH private key (OpenSSH or PEM, unencrypted) for the browser terminal. */
const privateKey = z.string().max(16_384).refine(
  (k) => /^-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----/.test(k.trim()),
  "must be an unencrypted private key in OpenSSH or PEM form",
);
/** Credentials need a password or a key. */
const hasPasswordOrKey = (b: { password: string; privateKey?: string }) =>
  b.password !== "" || b.privateKey !== undefined;
const passwordOrKey = { message: "give a password, a private key or both", path: ["password"] };
/** A device's own credentials, held by the cloud (write-only). */
export const deviceCredentialsBody = z.object({
  username: z.string().max(256).refine((u) => !u.includes(":"), "must not contain ':'"),
  password: z.string().max(1024).default(""),
  privateKey: privateKey.optional(),
}).refine(hasPasswordOrKey, passwordOrKey);
/**
 * The same credentials for every device of a site (cameras installed with one password, servers
 * with one key): the devices without any, or with `replace` every one; with `only`, just the
 * devices that have a port of that protocol (`rtsp`: the cameras, `ssh`: the SSH servers).
 */
export const siteCredentialsBody = z.object({
  username: z.string().min(1).max(256).refine((u) => !u.includes(":"), "must not contain ':'"),
  password: z.string().max(1024).default(""),
  privateKey: privateKey.optional(),
  replace: z.boolean().default(false),
  only: portProtocol.optional(),
}).refine(hasPasswordOrKey, passwordOrKey);
/** Motion alerts on or off for every camera of a site (devices with an RTSP port). */
export const siteMotionBody = z.object({ on: z.boolean() });
/** Mint a signed RTSP URL: the device-side path to open, lifetime (default 12 h, at most 7 days). */
export const rtspUrlBody = z.object({
  /** Given: also remembered as the port's stream path (an empty one forgets it). */
  path: streamPath.optional(),
  /**
   * Given: remembered as the port's sub-stream path, which the live grid and the thumbnails play
   * (an empty one forgets it); the URL minted is still the main stream's (`path`).
   */
  subPath: streamPath.optional(),
  ttlSeconds: z.number().int().min(60).max(7 * 86_400).optional(),
});
/** Run ONVIF discovery on a site's agent. */
export const discoveryBody = z.object({
  timeoutMs: z.number().int().min(500).max(10_000).optional(),
});
/** An agent's hourly stats. */
export const agentStatsQuery = z.object({
  hours: z.coerce.number().int().min(1).max(720).default(24),
});

/** An agent's daily stats. */
export const agentDailyQuery = z.object({
  days: z.coerce.number().int().min(1).max(365).default(30),
});

/** `POST …/host-key/accept`: optionally the fingerprint the admin was shown. */
export const acceptHostKeyBody = z.object({
  fingerprint: z.string().regex(/^SHA256:[A-Za-z0-9+/]{43}$/).optional(),
}).strict();

/** `POST /api/webhooks`: where to send which events. */
/**
 * A webhook's active hours (events/schedule.ts). Given without `from` and `to` (the console's
 * form with the hours left empty) it means none: always.
 */
export const webhookSchedule = z.preprocess(
  (v) => v && typeof v === "object" && !("from" in v) && !("to" in v) ? null : v,
  z.object({
    days: z.array(z.coerce.number().int().min(0).max(6)).min(1, "choose at least one day")
      .max(7).transform((d) => [...new Set(d)].sort((a, b) => a - b)),
    from: z.string().regex(HHMM, "from: a time like 18:00"),
    to: z.string().regex(HHMM, "to: a time like 08:00"),
    timeZone: z.string().max(64).refine(
      isTimeZone,
      "timeZone: a time zone such as Europe/Berlin or UTC",
    ),
  }).strict().nullable(),
);

/**
 * How a webhook a person reads holds back a flood: `{each, minutes}` (at most `each` messages of
 * their own per window of `minutes`, the rest in one summary), `"off"` (every event on its own),
 * or null (the default, 5 in 10 minutes).
 */
export const webhookDigest = z.union([
  z.literal("off"),
  z.object({
    each: z.number().int().min(1, "each: at least 1").max(
      DIGEST_EACH_MAX,
      `each: at most ${DIGEST_EACH_MAX}`,
    ),
    minutes: z.number().int().refine(
      (m) => (DIGEST_MINUTES as readonly number[]).includes(m),
      `minutes: one of ${DIGEST_MINUTES.join(", ")}`,
    ),
  }).strict(),
]).nullable();

export const webhookBody = z.object({
  url: z.string().min(1).max(2048),
  events: z.array(z.enum(EVENT_TYPES)).min(1, "choose at least one event type").max(
    EVENT_TYPES.length,
  ),
  /** What its POST carries (chat_message.ts); default `auto`. */
  format: z.enum(WEBHOOK_FORMATS).optional(),
  /** Its active hours; absent or null: always. */
  schedule: webhookSchedule.optional(),
  /** How it holds back a flood (email and chat); absent or null: the default. */
  digest: webhookDigest.optional(),
}).strict();

/** `PATCH /api/webhooks/{id}`: its event types, format, active hours or digest (its URL stays). */
export const webhookPatch = z.object({
  events: z.array(z.enum(EVENT_TYPES)).min(1, "choose at least one event type").max(
    EVENT_TYPES.length,
  ).optional(),
  format: z.enum(WEBHOOK_FORMATS).optional(),
  schedule: webhookSchedule.optional(),
  digest: webhookDigest.optional(),
}).strict().refine(
  (b) =>
    b.events !== undefined || b.format !== undefined || b.schedule !== undefined ||
    b.digest !== undefined,
  { message: "give events, format, schedule or digest to change" },
);

/** Event types, comma-separated (`camera.motion,camera.tamper`), each one of EVENT_TYPES. */
export const eventTypeList = z.string().max(1000).transform((s, ctx) => {
  const types = [...new Set(s.split(",").map((t) => t.trim()).filter(Boolean))];
  const known: readonly string[] = EVENT_TYPES;
  const unknown = types.find((t) => !known.includes(t));
  if (unknown !== undefined || types.length === 0) {
    ctx.addIssue({
      code: "custom",
      message: `expected event types, comma-separated, of ${EVENT_TYPES.join(", ")}` +
        (unknown === undefined ? "" : `; "${unknown.slice(0, 40)}" is none`),
    });
    return z.NEVER;
  }
  return types as EventType[];
});

/** A device id in an events filter. */
const eventDeviceId = z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, "device: a device id");
/** A site id in an events filter. */
const eventSiteId = z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, "site: a site id");

/** `GET /api/events`: a page of the inbox, newest first (of some types only, with `type`). */
export const eventsQuery = z.object({
  before: z.coerce.number().int().min(1).optional(),
  limit: z.coerce.number().int().min(1).max(500).default(50),
  unread: z.enum(["1", "true", "0", "false"]).optional(),
  type: eventTypeList.optional(),
  /** Only the events about this device. */
  device: eventDeviceId.optional(),
  /** Only the events about this site (its agent, devices and cameras). */
  site: eventSiteId.optional(),
});

/**
 * `POST /api/events/read`: these events (`seqs`); or the unread events of a filter, as
 * `GET /api/events` takes it (`type`, `site`, `device`: what a filtered Events page shows); or,
 * with neither, every event.
 */
export const eventsReadBody = z.object({
  seqs: z.array(z.number().int().min(1)).max(500).optional(),
  type: eventTypeList.optional(),
  site: eventSiteId.optional(),
  device: eventDeviceId.optional(),
}).strict().refine(
  (b) => !b.seqs || (b.type === undefined && b.site === undefined && b.device === undefined),
  { message: "give seqs or a filter (type, site, device), not both" },
);

/** A speed of a pan/tilt/zoom move: −1 (left, down, out) to 1 (right, up, in). */
const ptzSpeed = z.number().min(-1, "a speed from -1 to 1").max(1, "a speed from -1 to 1")
  .default(0);

/** A camera's token for one of its presets (from `GET …/ptz/presets`). */
const presetToken = z.string().min(1).max(64).regex(/^[\x21-\x7e]+$/, "preset: a preset's token");

/**
 * `POST /api/handles/{handle}/ptz`: move at a velocity (the camera stops by itself after 2 s
 * unless told again), stop, go to a preset (its token, from `GET …/ptz/presets`), save where it
 * points as a preset of a name (over the one of that name), or remove a preset.
 */
export const ptzBody = z.discriminatedUnion("action", [
  z.object({ action: z.literal("move"), pan: ptzSpeed, tilt: ptzSpeed, zoom: ptzSpeed })
    .strict(),
  z.object({ action: z.literal("stop") }).strict(),
  z.object({ action: z.literal("preset"), preset: presetToken }).strict(),
  z.object({
    action: z.literal("save"),
    name: z.string().trim().min(1, "name: the preset's name").max(64)
      .regex(/^[^\p{Cc}]+$/u, "name: no control characters"),
  }).strict(),
  z.object({ action: z.literal("remove"), preset: presetToken }).strict(),
]);

/**
 * `POST /api/handles/{handle}/focus`: ask whether the camera can focus (and its mode), nudge its
 * focus (− nearer, + farther; the cloud stops the lens after a moment), or set it to focus by
 * itself.
 */
export const focusBody = z.discriminatedUnion("action", [
  z.object({ action: z.literal("ask") }).strict(),
  z.object({
    action: z.literal("nudge"),
    speed: z.number().min(-1, "speed: from -1 (nearer) to 1 (farther)")
      .max(1, "speed: from -1 (nearer) to 1 (farther)")
      .refine((v) => v !== 0, "speed: not 0 (-1 nearer to 1 farther)"),
  }).strict(),
  z.object({ action: z.literal("auto") }).strict(),
]);

/** A camera's recording, by its token (GetRecordings). */
const recordingToken = z.string().regex(/^[\x21-\x7e]{1,64}$/, "recording: a recording's token");

/**
 * `POST /api/handles/{handle}/recording` (the body may be left out): which of the camera's
 * recordings, by default its first.
 */
export const recordingBody = z.object({ recording: recordingToken.optional() }).strict();

/** An instant of a recording's search: UTC, to the second or the millisecond. */
const searchInstant = (name: string) =>
  z.string().regex(
    /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,3})?Z$/,
    `${name}: an instant in UTC, as 2026-12-06T03:00:00Z`,
  ).transform((t) => Date.parse(t)).refine(Number.isFinite, `${name}: not a date`);

/**
 * `POST /api/handles/{handle}/recording/events`: what the camera's recording holds from `from`
 * until `until` (by default now).
 */
export const recordingEventsBody = z.object({
  from: searchInstant("from"),
  until: searchInstant("until").optional(),
  recording: recordingToken.optional(),
}).strict().refine((b) => b.until === undefined || b.until > b.from, {
  message: "after from",
  path: ["until"],
});

/** `POST /api/sites/{id}/clocks?offset=N`: where this request's cameras start (the last's `next`). */
export const siteClocksQuery = z.object({
  offset: z.coerce.number().int().min(0).max(1_000_000).default(0),
});

/** `POST /api/handles/{handle}/clock`: read the camera's clock, or set it to the cloud's time. */
export const clockBody = z.object({ action: z.enum(["read", "set"]) }).strict();

/** `POST /api/handles/{handle}/relays`: one of the camera's relay outputs (its token) on or off. */
export const relayBody = z.object({
  token: z.string().min(1).max(64).regex(/^[\x21-\x7e]+$/, "token: an output's token"),
  state: z.enum(["active", "inactive"]),
}).strict();

/** `GET /api/events/stream`: `after`, the newest event the page already shows (resume there). */
export const eventStreamQuery = z.object({
  after: z.coerce.number().int().min(0).max(Number.MAX_SAFE_INTEGER).optional(),
});

/** Request bodies by "METHOD /path" (hono path syntax), for the OpenAPI document. */
export const BODIES: Record<string, z.ZodType> = {
  "POST /api/agents/enroll": enrollRequest,
  "POST /api/auth/login": loginBody,
  "POST /api/auth/tenant": switchTenantBody,
  "POST /api/account/tokens": tokenBody,
  "POST /api/sites": siteBody,
  "PATCH /api/sites/:id": siteBody,
  "POST /api/sites/:id/alerts/pause": alertsPauseBody,
  "POST /api/devices/:id/alerts/snooze": deviceSnoozeBody,
  "POST /api/handles/:handle/ptz": ptzBody,
  "POST /api/handles/:handle/focus": focusBody,
  "POST /api/handles/:handle/recording": recordingBody,
  "POST /api/handles/:handle/recording/events": recordingEventsBody,
  "POST /api/handles/:handle/clock": clockBody,
  "POST /api/handles/:handle/relays": relayBody,
  "POST /api/users": inviteBody,
  "PATCH /api/users/:id": userPatch,
  "PATCH /api/agents/:id": agentPatch,
  "POST /api/sites/:id/devices": deviceBody,
  "POST /api/sites/:id/devices/bulk": bulkBody,
  "PATCH /api/devices/:id": devicePatch,
  "POST /api/cli/sessions": cliSessionBody,
  "POST /api/api-keys": apiKeyBody,
  "POST /api/v1/sessions": partnerSessionBody,
  "POST /api/admin/tenants": onboardBody,
  "POST /api/admin/tenants/:tenantId/licenses": licenseBody,
  "PUT /api/sites/:id/devices/:deviceId/credentials": deviceCredentialsBody,
  "PUT /api/sites/:id/credentials": siteCredentialsBody,
  "PUT /api/sites/:id/motion-alerts": siteMotionBody,
  "POST /api/handles/:handle/rtsp-url": rtspUrlBody,
  "POST /api/sites/:id/discovery": discoveryBody,
  "PUT /api/terminal/policy": terminalPolicyBody,
  "POST /api/devices/:id/ports/:port/host-key/accept": acceptHostKeyBody,
  "POST /api/webhooks": webhookBody,
  "PATCH /api/webhooks/:id": webhookPatch,
  "POST /api/events/read": eventsReadBody,
};

/** Query strings by "METHOD /path". */
export const QUERIES: Record<string, z.ZodObject> = {
  "GET /api/sites/:id/devices": deviceListQuery,
  "GET /api/sites/:id/reachability": reachabilityQuery,
  "GET /api/agents": agentListQuery,
  "GET /api/sites": siteListQuery,
  "GET /api/audit": auditQuery,
  "GET /api/agents/:id/stats": agentStatsQuery,
  "GET /api/agents/:id/daily": agentDailyQuery,
  "GET /api/events": eventsQuery,
  "GET /api/events/stream": eventStreamQuery,
};
