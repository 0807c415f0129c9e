/**
 * One RTSP client connection through the gateway. The first request names the handle; it is
 * authenticated (signed URL or Basic token), authorized in the caller's tenant and site scope
 * (`authorizeHandle`, as the WebSocket tunnel does), and the tunnel to the device is opened
 * through the agent (`openTunnel`). From then on every method passes through: request URIs and
 * URLs in headers and SDP are rewritten both ways, the gateway's own credentials are stripped,
 * UDP transports are refused with 461, and interleaved `$` frames flow untouched both ways.
 *
 * A camera's own Basic/Digest challenge: when the cloud holds the device's credentials, the
 * gateway answers it itself (device_auth.ts) over the device-side URI and resends the request
 * with the same CSeq, so the player never sees it; every such use is audited. Otherwise the 401
 * reaches the player, whose answer is forwarded unchanged (see README: servers check the
 * response against the `uri=` the client signed, which is the cloud URL it used).
 * @module
 */
import { AppError } from "../../../shared/errors.ts";
import { auditAnonymousRefusal } from "../../tenancy/anonymous_audit.ts";
import { fromTrustedProxy, type Principal } from "../../tenancy/auth.ts";
import type { ByteStream } from "../../../shared/transport/byte_stream.ts";
import { ProxyHeaderError, readProxyHeader } from "../proxy_protocol.ts";
import { type DeviceSecrets, useDeviceCredentials } from "../../tenancy/device_secrets.ts";
import type { OpenedTunnel } from "../../control/tunnels.ts";
import { ChallengeAnswerer } from "../device_auth.ts";
import { type Authorized, authorizeHandle, openTunnel, type RouteDeps } from "../route.ts";
import { slideOnConnect } from "../../tenancy/session_slide.ts";
import { gatewayToken, principalFromBasic, principalFromSignedUrl } from "./auth.ts";
import { demux, WriteLock } from "./demux.ts";
import { header, headers, response, type RtspMessage, serialize, setHeader } from "./message.ts";
import { parseClientUri, rewriteMessage, RouteMap } from "./rewrite.ts";
import { type RtspUrlSigner, splitRoute } from "./signed_url.ts";
import { KEEP_OPEN, type Refusal, refusalFor, SOUND_OFF, UNSUPPORTED_TRANSPORT } from "./status.ts";
import { logStoreFailure } from "../../store/outage.ts";
import { setupOfKept, withoutAudio } from "./sound_off.ts";
import { SOUND_CHECK_MS } from "../sound_setting.ts";
import { latin1, latin1Bytes } from "../../../shared/encoding.ts";

/** What the gateway needs besides routing. */
export interface RtspDeps extends RouteDeps {
  secrets: DeviceSecrets;
  signer: RtspUrlSigner;
  /** How long a new connection may take to send its first complete request. */
  firstRequestTimeoutMs?: number;
  /** How long the device may take to answer a request (504 and close after); default 30 s. */
  responseTimeoutMs?: number;
}

/** Failed authentication attempts tolerated on one connection before it is closed. */
const MAX_AUTH_FAILURES = 3;
/** How long a refusal may wait to be written before the connection is closed instead. */
const STUCK_MS = 2_000;
/** Requests remembered for answering a challenge (by CSeq). */
const MAX_PENDING = 64;

interface Pending {
  request: RtspMessage;
  retries: number;
  timer?: ReturnType<typeof setTimeout>;
}

/** Keeps only the TCP (interleaved) specs of a Transport header; null when there are none. */
export function tcpTransports(value: string): string | null {
  const specs = value.split(",").map((s) => s.trim()).filter((s) =>
    /^RTP\/S?AVPF?\/TCP(;|$)/i.test(s)
  );
  return specs.length ? specs.join(",") : null;
}

/** Serves one client connection until either side closes. */
export class RtspSession {
  #d: RtspDeps;
  #client: Deno.Conn;
  #remote: string;
  #clientLock = new WriteLock();
  #deviceLock = new WriteLock();
  #principal: Principal | null = null;
  #target: Authorized | null = null;
  #tunnel: OpenedTunnel | null = null;
  #map: RouteMap | null = null;
  #devicePump: Promise<void> | null = null;
  #pending = new Map<string, Pending>();
  #holdsCredentials = false;
  /** undefined until first needed; null when the cloud holds none (or they do not open). */
  #answerer: ChallengeAnswerer | null | undefined = undefined;
  #authFailures = 0;
  #up = 0;
  #down = 0;
  #closed = false;
  #unlive: (() => void) | undefined;
  /**
   * Set when an admin turned the camera's sound off: the tracks the last filtered DESCRIBE kept
   * and its base (device-side), the only ones a SETUP may name (null before a DESCRIBE).
   */
  #soundOff: { kept: string[]; base: string } | null | undefined = undefined;

  /** Creates the session for an accepted connection. */
  constructor(d: RtspDeps, client: Deno.Conn) {
    this.#d = d;
    this.#client = client;
    const addr = client.remoteAddr as Deno.NetAddr;
    this.#remote = addr.hostname ?? "unknown";
  }

  /** Runs the session to its end; never throws. */
  async run(): Promise<void> {
    const started = this.#d.clock.now();
    const timer = setTimeout(() => {
      if (!this.#tunnel) this.#close();
    }, this.#d.firstRequestTimeoutMs ?? 30_000);
    try {
      let src: ByteStream = this.#client;
      if (fromTrustedProxy(this.#remote, this.#d.authContext?.().trustedProxies)) {
        // A balancer in --trusted-proxies may name the player in a PROXY header (proxy_protocol.ts).
        const h = await readProxyHeader(this.#client).catch((e) => {
          if (!(e instanceof ProxyHeaderError)) throw e;
          this.#d.log.warn({ remote: this.#remote, err: e.message }, "rtsp: bad PROXY header");
          return null;
        });
        if (!h) return;
        if (h.client) this.#remote = h.client;
        src = h.stream;
      }
      await demux(src, {
        message: (m) => this.#fromClient(m),
        frameTarget: () =>
          this.#tunnel ? { conn: this.#tunnel.socket, lock: this.#deviceLock } : null,
        malformed: (reason) => this.#refuse(new AppError("bad_request", reason), null, true),
        count: (n) => (this.#up += n),
      });
    } catch (e) {
      if (!this.#closed) this.#d.log.debug({ err: (e as Error).message }, "rtsp client ended");
    } finally {
      clearTimeout(timer);
      this.#close();
      await this.#devicePump?.catch(() => {});
      if (this.#tunnel) this.#finish(started);
    }
  }

  #close(): void {
    this.#closed = true;
    for (const p of this.#pending.values()) clearTimeout(p.timer);
    for (const c of [this.#client, this.#tunnel?.socket]) {
      try {
        c?.close();
      } catch { /* already closed */ }
    }
  }

  #audit(action: string, detail: Record<string, unknown>): void {
    const t = this.#target!;
    const p = this.#principal!;
    this.#d.store.appendAudit({
      tenantId: t.handle.tenantId,
      actor: p.actor,
      action,
      target: t.handle.id,
      detail: {
        device: t.device.id,
        host: t.device.host,
        port: t.handle.port,
        agent: this.#tunnel?.agentId,
        tunnel: this.#tunnel?.tunnelId,
        via: p.kind,
        path: "rtsp",
        ...(p.auditUser ? { user: p.auditUser } : {}),
        ...detail,
      },
    }).catch((e) => logStoreFailure(this.#d.log, e, "audit write failed"));
  }

  #finish(started: number): void {
    this.#unlive?.();
    this.#tunnel!.done();
    const s = this.#d.registry.get(this.#tunnel!.agentId);
    if (s) s.activeStreams = Math.max(0, s.activeStreams - 1);
    this.#audit("tunnel.close", {
      bytesUp: this.#up,
      bytesDown: this.#down,
      durationMs: this.#d.clock.now() - started,
    });
  }

  /**
   * Answers the client with a refusal; closes unless it is a 401 the client may retry. The answer
   * goes out under the client's write lock, which an interleaved frame the device cut short holds
   * until its last byte comes (nothing may land inside a frame): when it has not gone out within
   * STUCK_MS, the connection is closed instead — a camera that stalls mid-frame would otherwise
   * keep the player waiting for an answer for good.
   */
  async #refuse(err: unknown, cseq: string | null, close = false): Promise<void> {
    const r: Refusal = KEEP_OPEN.has(err as Refusal) ? err as Refusal : refusalFor(err);
    if (r.status === 500) this.#d.log.error({ err: (err as Error)?.message }, "rtsp gateway error");
    const stuck = setTimeout(() => this.#close(), STUCK_MS);
    await this.#clientLock.write(
      this.#client,
      serialize(response(r.status, r.reason, cseq, r.headers)),
    ).catch(() => {}).finally(() => clearTimeout(stuck));
    if (r.status === 401 && ++this.#authFailures < MAX_AUTH_FAILURES && !close) return;
    if (close || !KEEP_OPEN.has(r)) this.#close();
  }

  /** Authenticates and authorizes the first request, and opens the tunnel. */
  async #open(m: RtspMessage & { start: { kind: "request" } }): Promise<void> {
    const c = parseClientUri(m.start.uri);
    if (!c) throw new AppError("bad_request", "expected rtsp://HOST:PORT/{handle}/…");
    const { handle, token } = splitRoute(c.route);
    const signed = token ?? c.queryToken;
    // An anonymous first request is the normal start of Basic auth (players ask, get 401, then
    // send credentials): only a credential that was presented and refused is audited.
    let principal: Principal | null;
    try {
      principal = signed
        ? await principalFromSignedUrl(this.#d, this.#d.signer, handle, signed)
        : await principalFromBasic(this.#d, header(m, "Authorization"), this.#remote);
    } catch (e) {
      const now = this.#d.clock.now();
      if (e instanceof AppError && auditAnonymousRefusal(this.#d.store, this.#remote, now)) {
        await this.#d.store.appendAudit({
          tenantId: null,
          actor: `ip:${this.#remote}`,
          action: "tunnel.deny",
          target: handle.slice(0, 64),
          detail: { reason: e.code, message: e.message, path: "rtsp" },
        });
      }
      throw e;
    }
    if (!principal) throw new AppError("auth_required");
    const target = await authorizeHandle(this.#d, principal, handle);
    this.#holdsCredentials =
      (await this.#d.store.getDeviceCredentials(target.handle.tenantId, target.device.id)) !==
        null;
    const tunnel = await openTunnel(this.#d, target, "rtsp");
    if (principal.cliSessionHash) {
      await slideOnConnect(this.#d, principal.cliSessionHash);
    }
    this.#principal = principal;
    this.#target = target;
    this.#tunnel = tunnel;
    this.#soundOff = target.device.liveSound === false ? null : undefined;
    this.#unlive = this.#d.live?.add(principal, () => this.#close(), {
      kind: "RTSP",
      handleId: target.handle.id,
      startedAt: this.#d.clock.now(),
    });
    if (target.device.liveSound !== false) this.#watchSound();
    // Later URLs given to the client keep the token, whichever way it came.
    const route = signed ? `${handle}.${signed}` : handle;
    this.#map = new RouteMap(c.authority, route, target.device.host, target.handle.port);
    this.#audit("tunnel.open", { remote: this.#remote });
    this.#devicePump = demux(tunnel.socket, {
      message: (r) => this.#fromDevice(r),
      frameTarget: () => ({ conn: this.#client, lock: this.#clientLock }),
      malformed: (reason) => {
        this.#d.log.warn({ reason, handle }, "malformed RTSP from the device; closing");
        return Promise.resolve();
      },
      count: (n) => (this.#down += n),
    }).catch((e) => {
      if (!this.#closed) this.#d.log.debug({ err: (e as Error).message }, "rtsp device ended");
    }).finally(() => this.#close());
  }

  async #fromClient(m: RtspMessage): Promise<void> {
    const cseq = header(m, "CSeq");
    if (m.start.kind === "response") {
      // The client answering a request the device sent it.
      if (!this.#tunnel) return await this.#refuse(new AppError("bad_request"), cseq, true);
      return await this.#deviceLock.write(this.#tunnel.socket, serialize(m));
    }
    if (!this.#tunnel) {
      try {
        await this.#open(m as RtspMessage & { start: { kind: "request" } });
      } catch (e) {
        return await this.#refuse(e, cseq);
      }
    }
    const req = m.start;
    if (req.uri !== "*") {
      const c = parseClientUri(req.uri);
      if (!c || splitRoute(c.route).handle !== this.#target!.handle.id) {
        return await this.#refuse(
          new AppError("bad_request", "one RTSP connection reaches one handle"),
          cseq,
        );
      }
      req.uri = this.#map!.toDevice(req.uri);
    }
    if (req.method.toUpperCase() === "SETUP") {
      if (
        this.#soundOff !== undefined &&
        !(this.#soundOff && setupOfKept(req.uri, this.#soundOff.kept, this.#soundOff.base))
      ) {
        return await this.#refuse(SOUND_OFF, cseq);
      }
      const tcp = tcpTransports(header(m, "Transport") ?? "");
      if (!tcp) return await this.#refuse(UNSUPPORTED_TRANSPORT, cseq);
      setHeader(m, "Transport", tcp);
    }
    // The gateway's own credential never reaches the device; the cloud's, when it holds them.
    const auth = header(m, "Authorization");
    if (gatewayToken(auth) !== null || (auth !== null && this.#holdsCredentials)) {
      setHeader(m, "Authorization", null);
    }
    const answer = this.#answerer?.authorize(req.method, req.uri, m.body);
    if (answer) setHeader(m, "Authorization", answer);
    rewriteMessage(m, (u) => this.#map!.toDevice(u));
    if (cseq !== null) {
      if (this.#pending.size >= MAX_PENDING) {
        const oldest = this.#pending.keys().next().value!;
        clearTimeout(this.#pending.get(oldest)?.timer);
        this.#pending.delete(oldest);
      }
      clearTimeout(this.#pending.get(cseq)?.timer);
      // A device that takes the request and never answers: 504 to the player, then close.
      const timer = setTimeout(() => {
        if (this.#pending.get(cseq)?.timer !== timer || this.#closed) return;
        this.#refuse(new AppError("device_timeout"), cseq, true);
      }, this.#d.responseTimeoutMs ?? 30_000);
      this.#pending.set(cseq, { request: m, retries: 0, timer });
    }
    await this.#deviceLock.write(this.#tunnel!.socket, serialize(m));
  }

  async #fromDevice(m: RtspMessage): Promise<void> {
    const map = this.#map!;
    if (m.start.kind === "request") {
      // The device asking the client (ANNOUNCE, REDIRECT, GET_PARAMETER …).
      if (m.start.uri !== "*") m.start.uri = map.toClient(m.start.uri);
      rewriteMessage(m, (u) => map.toClient(u));
      return await this.#clientLock.write(this.#client, serialize(m));
    }
    const cseq = header(m, "CSeq");
    const pending = cseq === null ? undefined : this.#pending.get(cseq);
    if (m.start.status === 401 && pending && pending.retries < 2 && this.#holdsCredentials) {
      if (await this.#answer(pending, headers(m, "WWW-Authenticate"))) return;
    }
    if (cseq !== null) {
      clearTimeout(this.#pending.get(cseq)?.timer);
      this.#pending.delete(cseq);
    }
    if (this.#soundOff !== undefined && pending) this.#dropSound(m, pending.request);
    rewriteMessage(m, (u) => map.toClient(u));
    await this.#clientLock.write(this.#client, serialize(m));
  }

  /**
   * Sound was on when the player connected: if an admin turns it off, the connection (which may
   * carry the sound track) ends within SOUND_CHECK_MS, as the live view's sessions do; the
   * player's next connection plays without it.
   */
  #watchSound(): void {
    const t = this.#target!;
    const timer = setInterval(() => {
      if (this.#closed) return clearInterval(timer);
      this.#d.store.getDevice(t.handle.tenantId, t.device.id).then((dev) => {
        if (dev?.liveSound !== false || this.#closed) return;
        this.#d.log.info(
          { handle: t.handle.id },
          "rtsp: closing a connection: the camera's sound was turned off by an admin",
        );
        clearInterval(timer);
        this.#close();
      }).catch(() => {/* the store is out: the connection plays on as it was set up */});
    }, SOUND_CHECK_MS);
    const stop = () => clearInterval(timer);
    const prev = this.#unlive;
    this.#unlive = () => {
      stop();
      prev?.();
    };
  }

  /**
   * The camera's sound is off: a description (the answer to DESCRIBE) loses its audio sections,
   * and what it kept is what later SETUPs may name (device-side URLs, before the rewrite).
   */
  #dropSound(m: RtspMessage, request: RtspMessage): void {
    if (request.start.kind !== "request" || m.start.kind !== "response") return;
    if (request.start.method.toUpperCase() !== "DESCRIBE" || !m.body.length) return;
    if (m.start.status < 200 || m.start.status >= 300) return;
    const f = withoutAudio(latin1(m.body));
    m.body = latin1Bytes(f.sdp);
    const base = header(m, "Content-Base") ?? header(m, "Content-Location") ??
      request.start.uri;
    this.#soundOff = { kept: f.kept, base };
  }

  /** Answers the device's challenge with the cloud-held credentials and resends the request. */
  async #answer(p: Pending, challenges: string[]): Promise<boolean> {
    if (this.#answerer === undefined) {
      const t = this.#target!;
      try {
        const creds = await useDeviceCredentials(this.#d.store, this.#d.secrets, {
          tenantId: t.handle.tenantId,
          deviceId: t.device.id,
          actor: this.#principal!.actor,
          via: "rtsp",
          handle: t.handle.id,
        });
        this.#answerer = creds ? new ChallengeAnswerer(creds) : null;
      } catch (e) {
        this.#d.log.error({ err: (e as Error).message, device: t.device.id }, "device credentials");
        this.#answerer = null;
      }
    }
    if (!this.#answerer) return false;
    if (!this.#answerer.challenged(challenges)) {
      this.#d.log.warn(
        { device: this.#target!.device.id, handle: this.#target!.handle.id },
        "the device refused the credentials the cloud holds for it",
      );
      return false;
    }
    const req = p.request;
    if (req.start.kind !== "request") return false;
    p.retries++;
    setHeader(
      req,
      "Authorization",
      this.#answerer.authorize(req.start.method, req.start.uri, req.body),
    );
    await this.#deviceLock.write(this.#tunnel!.socket, serialize(req));
    return true;
  }
}
