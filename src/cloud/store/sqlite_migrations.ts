/**
 * The schema of the embedded SQLite store, as an ordered list of migrations. The database's
 * `PRAGMA user_version` counts how many of them are applied; `openSqliteStore` applies the
 * missing ones in one transaction and refuses a database stamped with a newer version than this
 * list knows. Migrations are append-only: never edit a shipped entry, add a new one.
 *
 * The statements deliberately have no `IF NOT EXISTS`: running one twice fails loudly instead of
 * hiding a version-tracking bug.
 * @module
 */

/** Migration `i` (0-based) takes the schema from version `i` to version `i + 1`. */
export const MIGRATIONS: readonly string[] = [
  // 1: the initial schema.
  `
  CREATE TABLE tenants (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    created_at INTEGER NOT NULL
  );

  CREATE TABLE sites (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL REFERENCES tenants (id),
    name TEXT NOT NULL,
    allowlist_version INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL,
    UNIQUE (id, tenant_id)
  );
  CREATE INDEX sites_tenant ON sites (tenant_id, created_at);

  CREATE TABLE agents (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL,
    site_id TEXT NOT NULL,
    hostname TEXT NOT NULL,
    version TEXT NOT NULL,
    os TEXT NOT NULL,
    cert_serial TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    revoked_at INTEGER,
    FOREIGN KEY (site_id, tenant_id) REFERENCES sites (id, tenant_id)
  );
  CREATE INDEX agents_site ON agents (tenant_id, site_id, created_at);

  CREATE TABLE devices (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL,
    site_id TEXT NOT NULL,
    host TEXT NOT NULL,
    ports TEXT NOT NULL, -- JSON array, sorted ascending, no duplicates
    manufacturer TEXT NOT NULL,
    model TEXT NOT NULL,
    label TEXT NOT NULL,
    notes TEXT NOT NULL,
    loopback_n INTEGER NOT NULL UNIQUE, -- index into the loopback address space
    loopback_ip TEXT NOT NULL UNIQUE,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    UNIQUE (id, site_id, tenant_id),
    FOREIGN KEY (site_id, tenant_id) REFERENCES sites (id, tenant_id)
  );
  CREATE INDEX devices_site ON devices (site_id, created_at);

  CREATE TABLE handles (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL,
    site_id TEXT NOT NULL,
    device_id TEXT NOT NULL,
    port INTEGER NOT NULL,
    agent_id TEXT,
    created_at INTEGER NOT NULL,
    expires_at INTEGER,
    revoked_at INTEGER,
    FOREIGN KEY (device_id, site_id, tenant_id)
      REFERENCES devices (id, site_id, tenant_id) ON DELETE CASCADE
  );
  CREATE INDEX handles_device_port ON handles (device_id, port);

  CREATE TABLE enrollment_tokens (
    hash TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL,
    site_id TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    used_at INTEGER,
    agent_id TEXT REFERENCES agents (id),
    FOREIGN KEY (site_id, tenant_id) REFERENCES sites (id, tenant_id)
  );
  CREATE INDEX enrollment_tokens_site ON enrollment_tokens (tenant_id, site_id, created_at);

  CREATE TABLE users (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL REFERENCES tenants (id),
    email TEXT NOT NULL UNIQUE COLLATE NOCASE, -- stored lower-cased as well
    password_hash TEXT NOT NULL,
    role TEXT NOT NULL CHECK (role IN ('superadmin', 'admin', 'operator', 'viewer')),
    created_at INTEGER NOT NULL,
    disabled_at INTEGER,
    UNIQUE (id, tenant_id)
  );

  CREATE TABLE api_tokens (
    hash TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    name TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    last_used_at INTEGER,
    revoked_at INTEGER,
    FOREIGN KEY (user_id, tenant_id) REFERENCES users (id, tenant_id)
  );
  CREATE INDEX api_tokens_user ON api_tokens (tenant_id, user_id, created_at);

  CREATE TABLE licenses (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL REFERENCES tenants (id),
    hash TEXT NOT NULL UNIQUE,
    created_at INTEGER NOT NULL,
    revoked_at INTEGER
  );
  CREATE INDEX licenses_tenant ON licenses (tenant_id, created_at);

  -- AUTOINCREMENT: a seq is never reused, even after the newest row is gone.
  CREATE TABLE audit (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id TEXT,
    at INTEGER NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    target TEXT NOT NULL,
    detail TEXT NOT NULL -- JSON object
  );
  CREATE INDEX audit_tenant ON audit (tenant_id, seq);
  CREATE INDEX audit_action ON audit (action, seq);
  CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit
    BEGIN SELECT RAISE(ABORT, 'audit is append-only'); END;
  CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit
    BEGIN SELECT RAISE(ABORT, 'audit is append-only'); END;

  CREATE TABLE presence (
    agent_id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL,
    site_id TEXT NOT NULL,
    node TEXT NOT NULL,
    endpoint TEXT NOT NULL,
    last_heartbeat INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    active_streams INTEGER NOT NULL,
    bytes_up INTEGER NOT NULL,
    bytes_down INTEGER NOT NULL
  );
  CREATE INDEX presence_site ON presence (site_id, expires_at);

  CREATE TABLE locks (
    name TEXT PRIMARY KEY,
    owner TEXT NOT NULL,
    expires_at INTEGER NOT NULL
  );

  -- Named counters of Store.incrementCounter.
  CREATE TABLE counters (
    name TEXT PRIMARY KEY,
    value INTEGER NOT NULL
  );

  -- The store's own sequences (kept apart so a caller's counter name cannot collide).
  CREATE TABLE sequences (
    name TEXT PRIMARY KEY,
    value INTEGER NOT NULL
  );
  INSERT INTO sequences (name, value) VALUES ('loopback', 0);
  `,
  // 2: browser sign-in sessions (cookie), stored by hash with their antiforgery token's hash.
  `
  CREATE TABLE web_sessions (
    hash TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    csrf_hash TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    FOREIGN KEY (user_id, tenant_id) REFERENCES users (id, tenant_id)
  );
  CREATE INDEX web_sessions_user ON web_sessions (user_id);
  `,
  // 3: CLI sessions (ops_) and partner API keys (nk_), both stored by hash.
  `
  CREATE TABLE api_keys (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL REFERENCES tenants (id),
    hash TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    allowed_cidr TEXT,
    created_at INTEGER NOT NULL,
    revoked_at INTEGER
  );
  CREATE INDEX api_keys_tenant ON api_keys (tenant_id, created_at);

  CREATE TABLE cli_sessions (
    hash TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL REFERENCES tenants (id),
    site_ids TEXT NOT NULL, -- JSON array
    operator TEXT NOT NULL,
    external_operator_id TEXT,
    issuer TEXT NOT NULL CHECK (issuer IN ('user', 'api_key')),
    issuer_ref TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    hard_cap_at INTEGER NOT NULL,
    last_used_at INTEGER,
    revoked_at INTEGER
  );
  CREATE INDEX cli_sessions_tenant ON cli_sessions (tenant_id, created_at);
  CREATE INDEX cli_sessions_issuer ON cli_sessions (tenant_id, issuer_ref);
  `,
  // 4: superadmins act in any tenant: a session's or API token's tenant is its context, not
  // necessarily the user's home tenant. Rebuild both tables with user_id → users(id) only.
  `
  CREATE TABLE web_sessions_v4 (
    hash TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL REFERENCES tenants (id),
    user_id TEXT NOT NULL REFERENCES users (id),
    csrf_hash TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
  );
  INSERT INTO web_sessions_v4 SELECT hash, tenant_id, user_id, csrf_hash, created_at, expires_at
    FROM web_sessions;
  DROP TABLE web_sessions;
  ALTER TABLE web_sessions_v4 RENAME TO web_sessions;
  CREATE INDEX web_sessions_user ON web_sessions (user_id);

  CREATE TABLE api_tokens_v4 (
    hash TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL REFERENCES tenants (id),
    user_id TEXT NOT NULL REFERENCES users (id),
    name TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    last_used_at INTEGER,
    revoked_at INTEGER
  );
  INSERT INTO api_tokens_v4 SELECT hash, tenant_id, user_id, name, created_at, last_used_at,
    revoked_at FROM api_tokens;
  DROP TABLE api_tokens;
  ALTER TABLE api_tokens_v4 RENAME TO api_tokens;
  CREATE INDEX api_tokens_user ON api_tokens (tenant_id, user_id, created_at);

  -- Only a superadmin's token or session may name a tenant other than the user's own.
  CREATE TRIGGER api_tokens_tenant BEFORE INSERT ON api_tokens
  WHEN NOT EXISTS (SELECT 1 FROM users WHERE id = NEW.user_id
    AND (tenant_id = NEW.tenant_id OR role = 'superadmin'))
  BEGIN SELECT RAISE(ABORT, 'an API token must name its user''s tenant unless the user is a superadmin'); END;
  CREATE TRIGGER web_sessions_tenant_insert BEFORE INSERT ON web_sessions
  WHEN NOT EXISTS (SELECT 1 FROM users WHERE id = NEW.user_id
    AND (tenant_id = NEW.tenant_id OR role = 'superadmin'))
  BEGIN SELECT RAISE(ABORT, 'a session must name its user''s tenant unless the user is a superadmin'); END;
  CREATE TRIGGER web_sessions_tenant_update BEFORE UPDATE OF tenant_id ON web_sessions
  WHEN NOT EXISTS (SELECT 1 FROM users WHERE id = NEW.user_id
    AND (tenant_id = NEW.tenant_id OR role = 'superadmin'))
  BEGIN SELECT RAISE(ABORT, 'a session must name its user''s tenant unless the user is a superadmin'); END;
  `,
  // 5: device credentials held by the cloud, sealed with AES-256-GCM (never the password);
  // they go with their device.
  `
  CREATE TABLE device_credentials (
    device_id TEXT PRIMARY KEY REFERENCES devices (id) ON DELETE CASCADE,
    tenant_id TEXT NOT NULL REFERENCES tenants (id),
    sealed TEXT NOT NULL,
    updated_at INTEGER NOT NULL
  );
  CREATE TRIGGER device_credentials_tenant BEFORE INSERT ON device_credentials
  WHEN NOT EXISTS (SELECT 1 FROM devices WHERE id = NEW.device_id AND tenant_id = NEW.tenant_id)
  BEGIN SELECT RAISE(ABORT, 'device credentials must name their device''s tenant'); END;
  `,
  // 6: agent stats (guide §9) and embedded-agent claim (guide §3). agent_counters holds the
  // day totals each agent last reported (the baseline for deltas); agent_stats_hourly the deltas
  // per hour. Devices may carry a manufacturer serial that an embedded agent claims once.
  `
  ALTER TABLE devices ADD COLUMN serial TEXT;
  ALTER TABLE devices ADD COLUMN claimed_agent_id TEXT;
  CREATE UNIQUE INDEX devices_serial ON devices (serial) WHERE serial IS NOT NULL;

  CREATE TABLE agent_counters (
    agent_id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL,
    day TEXT NOT NULL, -- UTC YYYY-MM-DD the totals belong to
    bytes_up INTEGER NOT NULL,
    bytes_down INTEGER NOT NULL,
    tunnels INTEGER NOT NULL,
    at INTEGER NOT NULL
  );

  CREATE TABLE agent_stats_hourly (
    agent_id TEXT NOT NULL,
    tenant_id TEXT NOT NULL,
    hour INTEGER NOT NULL, -- epoch ms of the hour's start (UTC)
    bytes_up INTEGER NOT NULL,
    bytes_down INTEGER NOT NULL,
    tunnels INTEGER NOT NULL,
    PRIMARY KEY (agent_id, hour)
  );
  CREATE INDEX agent_stats_hourly_tenant ON agent_stats_hourly (tenant_id, hour);
  `,
  // 7: daily stats (guide §9), rolled up from agent_stats_hourly by the background jobs.
  `
  CREATE TABLE agent_stats_daily (
    agent_id TEXT NOT NULL,
    tenant_id TEXT NOT NULL,
    day TEXT NOT NULL, -- UTC YYYY-MM-DD
    bytes_up INTEGER NOT NULL,
    bytes_down INTEGER NOT NULL,
    tunnels INTEGER NOT NULL,
    PRIMARY KEY (agent_id, day)
  );
  CREATE INDEX agent_stats_daily_tenant ON agent_stats_daily (tenant_id, day);
  `,
  // 8: certificate lifecycle. Each agent's newest known certificate: its expiry and the pin of
  // the CA that issued it (null for agents enrolled before; filled on their next connection).
  `
  ALTER TABLE agents ADD COLUMN cert_not_after INTEGER;
  ALTER TABLE agents ADD COLUMN cert_ca TEXT;
  CREATE INDEX agents_cert_not_after ON agents (cert_not_after) WHERE revoked_at IS NULL;
  `,
  // 9: browser terminal (SSH): host keys pinned per (device, port) on first use, a policy per
  // tenant (limits, idle timeout, recording), and the asciicast recordings of sessions.
  `
  CREATE TABLE ssh_host_keys (
    device_id TEXT NOT NULL REFERENCES devices (id) ON DELETE CASCADE,
    port INTEGER NOT NULL,
    tenant_id TEXT NOT NULL REFERENCES tenants (id),
    algorithm TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    pinned_at INTEGER NOT NULL,
    offered_algorithm TEXT,
    offered_fingerprint TEXT,
    offered_at INTEGER,
    PRIMARY KEY (device_id, port)
  );

  CREATE TABLE terminal_policies (
    tenant_id TEXT PRIMARY KEY REFERENCES tenants (id),
    max_per_user INTEGER NOT NULL,
    max_per_device INTEGER NOT NULL,
    idle_timeout_ms INTEGER NOT NULL,
    max_session_ms INTEGER NOT NULL,
    record_input INTEGER NOT NULL,
    retention_ms INTEGER NOT NULL
  );

  CREATE TABLE terminal_recordings (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL REFERENCES tenants (id),
    device_id TEXT NOT NULL,
    port INTEGER NOT NULL,
    handle TEXT NOT NULL,
    actor TEXT NOT NULL,
    started_at INTEGER NOT NULL,
    ended_at INTEGER NOT NULL,
    end_reason TEXT NOT NULL,
    cast TEXT NOT NULL
  );
  CREATE INDEX terminal_recordings_tenant ON terminal_recordings (tenant_id, ended_at);
  `,
  // 10: one-time links that set a user's password (team invites and password resets); only the
  // SHA-256 of the link's token is kept.
  `
  CREATE TABLE user_invites (
    hash TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL,
    user_id TEXT NOT NULL REFERENCES users (id),
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    used_at INTEGER
  );
  CREATE INDEX user_invites_user ON user_invites (user_id);
  `,
  // 11: a name for an agent given in the console (empty: the host name is shown).
  `
  ALTER TABLE agents ADD COLUMN label TEXT NOT NULL DEFAULT '';
  `,
  // 12: what each device port speaks (JSON object port -> http|https|rtsp|ssh|tcp), existing
  // ports getting the default of their number; the RTSP stream path remembered per port; and the
  // index the per-site device counts read (paged lists sort on devices_site).
  `
  ALTER TABLE devices ADD COLUMN protocols TEXT NOT NULL DEFAULT '{}';
  ALTER TABLE devices ADD COLUMN stream_paths TEXT NOT NULL DEFAULT '{}';
  UPDATE devices SET protocols = (
    SELECT json_group_object(CAST(p.value AS TEXT), CASE p.value
      WHEN 80 THEN 'http' WHEN 8080 THEN 'http'
      WHEN 443 THEN 'https' WHEN 8443 THEN 'https'
      WHEN 554 THEN 'rtsp' WHEN 8554 THEN 'rtsp'
      WHEN 22 THEN 'ssh'
      ELSE 'tcp' END)
    FROM json_each(devices.ports) AS p
  );
  CREATE INDEX devices_tenant_site ON devices (tenant_id, site_id);
  `,
  // 13: device reachability per (site, host, port), agent availability as the presence job
  // decided it, the tenants' events (unique key per transition), webhooks and their deliveries.
  `
  CREATE TABLE port_states (
    site_id TEXT NOT NULL,
    host TEXT NOT NULL,
    port INTEGER NOT NULL,
    tenant_id TEXT NOT NULL,
    up INTEGER NOT NULL,
    since INTEGER NOT NULL,
    error TEXT NOT NULL,
    agent_id TEXT NOT NULL,
    PRIMARY KEY (site_id, host, port)
  );

  CREATE TABLE agent_availability (
    agent_id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL,
    site_id TEXT NOT NULL,
    online INTEGER NOT NULL,
    since INTEGER NOT NULL,
    absent_since INTEGER
  );

  CREATE TABLE events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    key TEXT NOT NULL UNIQUE,
    tenant_id TEXT NOT NULL,
    type TEXT NOT NULL,
    at INTEGER NOT NULL,
    subject TEXT NOT NULL, -- JSON
    actor TEXT NOT NULL,
    detail TEXT NOT NULL, -- JSON
    read_at INTEGER
  );
  CREATE INDEX events_tenant ON events (tenant_id, seq);

  CREATE TABLE webhooks (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL,
    url TEXT NOT NULL,
    events TEXT NOT NULL, -- JSON array
    secret_seed TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    created_by TEXT NOT NULL
  );
  CREATE INDEX webhooks_tenant ON webhooks (tenant_id, created_at);

  CREATE TABLE webhook_deliveries (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL,
    webhook_id TEXT NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
    event_type TEXT NOT NULL,
    body TEXT NOT NULL,
    state TEXT NOT NULL,
    attempts TEXT NOT NULL, -- JSON array
    next_attempt_at INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    claimed_by TEXT
  );
  CREATE INDEX webhook_deliveries_due ON webhook_deliveries (state, next_attempt_at);
  CREATE INDEX webhook_deliveries_hook ON webhook_deliveries (webhook_id, created_at);
  `,
  // 14: why an online agent's data connections cannot open (presence.dataBlocked).
  `
  ALTER TABLE presence ADD COLUMN data_blocked TEXT NOT NULL DEFAULT '';
  `,
  // 15: the retention purge (purgeEvents) finds old events and finished deliveries by time
  // instead of scanning both tables on the event loop.
  `
  CREATE INDEX events_at ON events (at);
  CREATE INDEX webhook_deliveries_created ON webhook_deliveries (created_at);
  `,
  // 16: a tenant's audit entries by action, newest first. audit_action alone made a small
  // tenant's filter read every tenant's entries of that action (tunnel opens: millions), and the
  // tenant index alone a big tenant's whole trail for a rare action.
  `
  CREATE INDEX audit_tenant_action ON audit (tenant_id, action, seq);
  `,
  // 17: a tenant's unread events: the console's badge counts them every few seconds per open
  // tab, and counting them on events_tenant read all 90 days of the tenant's events.
  `
  CREATE INDEX events_unread ON events (tenant_id, seq) WHERE read_at IS NULL;
  `,
  // 18: a tenant's agents a page at a time in list order (agents_site sorted all of a big
  // tenant's agents for every page), and a tenant's live presence counted for the dashboard
  // without reading every tenant's.
  `
  CREATE INDEX agents_tenant ON agents (tenant_id, created_at);
  CREATE INDEX presence_tenant ON presence (tenant_id, expires_at);
  `,
  // 19: audit retention (--audit-retention-days). The trail stays append-only for every statement
  // but the retention purge, which opens the gate inside its own write transaction (so no other
  // connection ever sees it open) and closes it before committing.
  `
  CREATE TABLE audit_purge_gate (open INTEGER NOT NULL);
  INSERT INTO audit_purge_gate (open) VALUES (0);
  DROP TRIGGER audit_no_delete;
  CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit
    WHEN COALESCE((SELECT open FROM audit_purge_gate), 0) = 0
    BEGIN SELECT RAISE(ABORT, 'audit is append-only'); END;
  `,
  // 20: a site's devices by host, as a reachability report names them (case-insensitively):
  // devices_site read all of a 10,000-device site's rows for each page of a report.
  `
  CREATE INDEX devices_site_host ON devices (site_id, lower(host));
  `,
  // 21: pending deliveries by webhook, oldest due first: a claim that leaves out the webhooks a
  // node is sending to seeks each other webhook's oldest, instead of reading past a backlog.
  `
  CREATE INDEX webhook_deliveries_pending ON webhook_deliveries (state, webhook_id, next_attempt_at);
  `,
  // 22: the node registry: each cloud node's version and shared settings, announced every few
  // seconds, so a node (and `admin nodes`) can tell when two nodes disagree.
  `
  CREATE TABLE nodes (
    name TEXT PRIMARY KEY,
    version TEXT NOT NULL,
    started_at INTEGER NOT NULL,
    seen_at INTEGER NOT NULL,
    internal TEXT NOT NULL,
    settings TEXT NOT NULL
  );
  `,
  // 23: why a live-view camera session last failed to open, for whichever node the browser's
  // question reaches (kept minutes, not more).
  `
  CREATE TABLE live_failures (
    key TEXT PRIMARY KEY,
    code TEXT NOT NULL,
    message TEXT NOT NULL,
    at INTEGER NOT NULL
  );
  `,
  // 24: a site's down (or up) pairs in (host, port) order: the reachability API's `?state=down`
  // walked every state of the site for the few that were down (365 ms a page at 20 000 pairs).
  `
  CREATE INDEX port_states_site_up ON port_states (site_id, up, host, port);
  `,
  // 25: a node that stops gracefully says so, so `admin nodes` and its siblings stop counting it
  // at once rather than 45 s later.
  `
  ALTER TABLE nodes ADD COLUMN stopped_at INTEGER;
  `,
  // 26: rate-limit windows every node counts in (sign-in failures, claims): in memory, each
  // node of a deployment allowed the limit again, so a guesser behind a load balancer had N times
  // the tries and an account locked on one node was not on another.
  `
  CREATE TABLE rate_windows (
    key TEXT PRIMARY KEY,
    start INTEGER NOT NULL,
    n INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
  );
  CREATE INDEX rate_windows_expires ON rate_windows (expires_at);
  `,
  // 27: the key an enrollment token was used with, so an installer whose answer was lost (a
  // dropped connection, a full disk) gets its identity again instead of "already used".
  `
  ALTER TABLE enrollment_tokens ADD COLUMN key_pin TEXT;
  `,
  // 28: the key an embedded agent claimed its device with, so a claim whose answer was lost gets
  // its identity again instead of "serial already claimed".
  `
  ALTER TABLE devices ADD COLUMN claim_key_pin TEXT;
  `,
  // 29: a camera's sub-stream path per RTSP port (JSON object port -> path), which the live grid
  // and the thumbnails play instead of the main stream.
  `
  ALTER TABLE devices ADD COLUMN sub_stream_paths TEXT NOT NULL DEFAULT '{}';
  `,
  // 30: motion alerts per device (the cloud subscribes to the camera's ONVIF events), with an
  // index holding only the devices that have them on.
  `
  ALTER TABLE devices ADD COLUMN motion_alerts INTEGER NOT NULL DEFAULT 0;
  CREATE INDEX devices_motion_alerts ON devices (created_at) WHERE motion_alerts = 1;
  `,
  // 31: how each camera's motion alerts are doing, written by the node that watches them and read
  // by every node.
  `
  CREATE TABLE motion_status (
    device_id TEXT PRIMARY KEY,
    state TEXT NOT NULL,
    error TEXT,
    last_motion_at INTEGER,
    since INTEGER NOT NULL,
    node TEXT NOT NULL,
    watch TEXT NOT NULL
  );
  `,
  // 32: the camera's picture at a motion or tamper event, a few per device, kept a week.
  `
  CREATE TABLE event_snapshots (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL,
    site_id TEXT NOT NULL,
    device_id TEXT NOT NULL,
    at INTEGER NOT NULL,
    jpeg BLOB NOT NULL
  );
  CREATE INDEX event_snapshots_device ON event_snapshots (device_id, at);
  CREATE INDEX event_snapshots_at ON event_snapshots (at);
  `,
  // 33: a tenant's events of some types (the Events page's "Camera alerts"), newest first.
  `
  CREATE INDEX events_tenant_type ON events (tenant_id, type, seq);
  `,
  // 34: a device's own events (a camera's recent alerts on its live page): the subject's device
  // id as a column computed from the JSON (every event, the old ones too), indexed per tenant.
  `
  ALTER TABLE events ADD COLUMN device_id TEXT
    GENERATED ALWAYS AS (json_extract(subject, '$.deviceId')) VIRTUAL;
  CREATE INDEX events_tenant_device ON events (tenant_id, device_id, seq);
  `,
  // 35: a camera's quiet period after an alert, in seconds (the minute it always was).
  `
  ALTER TABLE devices ADD COLUMN alert_quiet_s INTEGER NOT NULL DEFAULT 60;
  `,
  // 36: what a webhook's POST carries: the JSON event or a chat service's message.
  `
  ALTER TABLE webhooks ADD COLUMN format TEXT NOT NULL DEFAULT 'auto';
  `,
  // 37: a site's alerts paused for maintenance: until when, and by whom.
  `
  ALTER TABLE sites ADD COLUMN alerts_paused_until INTEGER;
  ALTER TABLE sites ADD COLUMN alerts_paused_by TEXT;
  `,
  // 38: a webhook's active hours (JSON), or NULL: always.
  `
  ALTER TABLE webhooks ADD COLUMN schedule TEXT;
  `,
  // 39: a site's events (the Events page's site filter): the subject's site id as a column
  // computed from the JSON (every event, the old ones too), indexed per tenant, as 34 did for
  // the device.
  `
  ALTER TABLE events ADD COLUMN site_id TEXT
    GENERATED ALWAYS AS (json_extract(subject, '$.siteId')) VIRTUAL;
  CREATE INDEX events_tenant_site ON events (tenant_id, site_id, seq);
  `,
  // 40: read state per reader (a user, or another credential): every event up to read_upto is
  // read (one write marks all), and event_reads holds the ones marked one by one above it. An
  // event's read_at stays what the tenant read before this (it counts as read for everyone) and
  // is written no more.
  `
  CREATE TABLE event_readers (
    tenant_id TEXT NOT NULL,
    reader TEXT NOT NULL,
    read_upto INTEGER NOT NULL,
    read_upto_at INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, reader)
  ) WITHOUT ROWID;
  CREATE TABLE event_reads (
    tenant_id TEXT NOT NULL,
    reader TEXT NOT NULL,
    seq INTEGER NOT NULL,
    at INTEGER NOT NULL,
    read_at INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, reader, seq)
  ) WITHOUT ROWID;
  CREATE INDEX event_reads_at ON event_reads (at);
  `,
  // 41: how a webhook a person reads holds back a flood (JSON: {each, minutes} or "off"), or
  // NULL: the default.
  `
  ALTER TABLE webhooks ADD COLUMN digest TEXT;
  `,
  // 42: until when a device's alerts are snoozed (ms), or NULL: not.
  `
  ALTER TABLE devices ADD COLUMN alerts_snoozed_until INTEGER;
  `,
  // 43: a tenant's snoozed devices, found without reading the others (events/producer.ts).
  `
  CREATE INDEX devices_snoozed ON devices (tenant_id, alerts_snoozed_until)
    WHERE alerts_snoozed_until IS NOT NULL;
  `,
  // 44: the firmware version a camera gave over ONVIF ('': not asked, or it did not say).
  `
  ALTER TABLE devices ADD COLUMN firmware TEXT NOT NULL DEFAULT '';
  `,
  // 45: whether the live view plays a camera's sound (1, as every camera did: the camera's own
  // setting decides) or never (0: an admin turned it off).
  `
  ALTER TABLE devices ADD COLUMN live_sound INTEGER NOT NULL DEFAULT 1;
  `,
];
