/**
 * A camera's ONVIF device and media services, as the fake camera (camera.ts) serves them when
 * asked to: `GetSystemDateAndTime` and `GetCapabilities` without credentials on
 * `/onvif/device_service`, and `GetProfiles`, `GetStreamUri`, `GetSnapshotUri` on the media
 * service (at the address the capabilities give) only with a WS-Security UsernameToken whose
 * password digest is right for admin:12345 and whose `Created` is within 5 s of the camera's own
 * clock — which may be set off from the machine's, as on a camera nobody set the time on. The
 * URIs it gives name the camera's LAN address (`camera.invalid`), which nothing may dial. Given a
 * `CameraEvents`, it also serves pull-point event subscriptions the test drives; given a
 * `CameraPtz`, a PTZ service (`ContinuousMove`, `Stop`, presets listed, gone to, saved and removed)
 * on its first profile that records each call; given a `CameraFocus`, an imaging service
 * (`GetMoveOptions`, continuous focus `Move` and `Stop`, `Get`/`SetImagingSettings` of the focus
 * mode) on its one video source that records each call too; given a `CameraReboot`, restarts;
 * given a `CameraTime`, a clock that is set; given `CameraRelays`, alarm outputs; given
 * `CameraRecordings`, a recording to replay (its RTSP side: rtsp.ts `replayProxy`).
 * @module
 */
import { createHash } from "node:crypto";
import { Buffer } from "node:buffer";

/** How the fake camera speaks ONVIF. */
export interface OnvifOptions {
  /** The camera's clock minus the machine's (default 0). */
  clockOffsetMs?: number;
  /** The stream path its URI gives (default Hikvision's, with its query). */
  streamPath?: string;
  /** The media service's path (default `/onvif/Media`, which the capabilities give). */
  mediaPath?: string;
  /** The second profile's stream path (default Hikvision's sub-stream); null: one profile only. */
  subStreamPath?: string | null;
  /** The port the snapshot URI names (default none: port 80). Read at each request. */
  snapshotPort?: number;
  /** The camera's events service (pull points); absent: it has none (404). */
  events?: CameraEvents;
  /** Calls the camera takes and never answers (`GetProfiles`…), as a camera whose server hangs. */
  hang?: string[];
  /** The camera's pan/tilt/zoom head (a PTZ service); absent: it has none. */
  ptz?: CameraPtz;
  /** The camera's motorised lens (an imaging service); absent: it has none. */
  focus?: CameraFocus;
  /** Restarts it takes (`SystemReboot`, signed); absent: it refuses them (a SOAP fault). */
  reboot?: CameraReboot;
  /**
   * Its clock as it keeps it (how, its time zone, its offset: over `clockOffsetMs`), settable
   * (`SetSystemDateAndTime`, signed); absent: NTP, no time zone, and setting it is refused.
   */
  time?: CameraTime;
  /**
   * What it says it is (`GetDeviceInformation`, signed); default a Hikvision's
   * ({@linkcode ONVIF_IDENTITY}).
   */
  identity?: { manufacturer: string; model: string; firmware: string };
  /** Its alarm outputs (`GetRelayOutputs`, `SetRelayOutputState`, signed); absent: none. */
  relays?: CameraRelays;
  /** Its own recording (recording, replay and search services, signed); absent: none. */
  recordings?: CameraRecordings;
}

/**
 * The path the fake camera's GetReplayUri gives for its first recording (played by RTSP replay);
 * another recording's is `/onvif-replay/{token}` ({@link ONVIF_REPLAY_PATHS}).
 */
export const ONVIF_REPLAY_PATH = "/onvif-replay/RecordingToken001";
/** Every replay path the fake camera's GetReplayUri gives. */
export const ONVIF_REPLAY_PATHS = /\/onvif-replay\/[^\s/?]+/;

/** A camera's recording as a test sets it up: what it holds, and how often it was asked. */
export class CameraRecordings {
  /** The first and last pictures it holds (ISO 8601 UTC). */
  from = "2026-12-01T00:00:00Z";
  until = "2026-12-06T23:59:59Z";
  /** GetReplayUri answered. */
  replayUris = 0;
  /**
   * The recordings it keeps after its first (`RecordingToken001`, "Camera 1", holding `from` to
   * `until`), as an NVR keeps one per channel: each replayed at `/onvif-replay/{token}`.
   */
  readonly more: { token: string; name: string; from: string; until: string }[] = [];
  /**
   * What its recordings hold, as its search service finds it: motion, tampering or an alarm
   * input starting (`on`) or ending, at an instant (ISO 8601 UTC), in the recording `recording`
   * (by default the first).
   */
  readonly events: {
    at: string;
    kind: "motion" | "tamper" | "input";
    on: boolean;
    input?: string;
    recording?: string;
  }[] = [];

  /** Every recording: token, name and range. */
  all(): { token: string; name: string; from: string; until: string }[] {
    return [
      { token: "RecordingToken001", name: "Camera 1", from: this.from, until: this.until },
      ...this.more,
    ];
  }
  /** The most results one GetEventSearchResults gives (cameras answer a search in parts). */
  perRead = 4;
  /** Each FindEvents: its range, the most it finds, whether it was ended, how often it was read. */
  readonly searches: {
    from: string;
    until: string;
    max: number;
    recording: string;
    reads: number;
    ended: boolean;
  }[] = [];
}

/**
 * A camera's alarm outputs as a test reads them: a gate on a monostable output that pulses for
 * 5 s and a light on a bistable one, at first; each output's state and every state it was told.
 */
export class CameraRelays {
  /** The outputs it lists. */
  readonly outputs: { token: string; mode: "Monostable" | "Bistable"; delay: string }[] = [
    { token: "AlarmOut_0", mode: "Monostable", delay: "PT5S" },
    { token: "AlarmOut_1", mode: "Bistable", delay: "PT0S" },
  ];
  /** Each output's state now (absent: inactive). */
  readonly state = new Map<string, string>();
  /** Every state it was told, in order. */
  readonly told: { token: string; state: string }[] = [];
}

/** A camera's clock as a test sets it up and reads what it was told. */
export class CameraTime {
  /** Its clock minus the machine's. */
  offsetMs = 0;
  /** How it keeps time. */
  keptBy: "NTP" | "Manual" = "NTP";
  /** Its POSIX time zone. */
  timeZone = "CET-1CEST,M3.5.0,M10.5.0/3";
  /** Whether it applies daylight saving. */
  daylightSavings = true;
  /** Each SetSystemDateAndTime: how, the daylight saving, the zone and the UTC time it was told. */
  readonly told: {
    keptBy: string;
    daylightSavings: string;
    timeZone: string | null;
    utc: string;
  }[] = [];
}

/** The restarts a camera was told (`SystemReboot`), and what it answers each. */
export class CameraReboot {
  /** How many restarts it took. */
  count = 0;
  /** What it says before it goes (as cameras do; `&` and `<` escaped when sent). */
  message = "Rebooting in 30 seconds";
}

/**
 * A camera's motorised lens as a test reads it: every focus move (its speed as sent), stop and
 * focus mode it was told, in order, whether it is moving now, and the mode it is in.
 */
export class CameraFocus {
  /** What it was told, in order, with the video source. */
  readonly told: (
    | { call: "move"; source: string; speed: number }
    | { call: "stop"; source: string }
    | { call: "mode"; source: string; mode: string }
  )[] = [];
  /** The focus mode it is in (GetImagingSettings). */
  mode = "MANUAL";
  /** True from a move until the stop that follows it. */
  moving = false;
  /**
   * The continuous focus speeds its GetMoveOptions gives (null: it offers only absolute focus
   * positions, as some cameras do).
   */
  continuous: { min: number; max: number } | null = { min: -1, max: 1 };
  /** Whether GetCapabilities names the imaging service (else only GetServices does). */
  inCapabilities = true;
}

/**
 * A camera's pan/tilt/zoom head as a test reads it: every move, stop, preset gone to, saved or
 * removed it was told, in order, and the presets it keeps ("Gate", "Car park & gate", and one
 * without a name, at first).
 */
export class CameraPtz {
  /** `move` with its velocity and timeout (ISO 8601, `PT2S`), `stop`, `preset`, with the profile. */
  readonly told: (
    | { call: "move"; profile: string; pan: number; tilt: number; zoom: number; timeout: string }
    | { call: "stop"; profile: string }
    | { call: "preset"; profile: string; preset: string }
    | { call: "save"; profile: string; name: string; preset: string | null }
    | { call: "remove"; profile: string; preset: string }
  )[] = [];
  /**
   * Whether `GetCapabilities` names the PTZ service (true) or only `GetServices` does (false: as
   * cameras that list only the older categories in their capabilities).
   */
  inCapabilities = true;
  /** The presets it lists: token and name (null: none given). */
  readonly presets: { token: string; name: string | null }[] = [
    { token: "1", name: "Gate" },
    { token: "2", name: "Car park & gate" },
    { token: "3", name: null },
  ];
}

/** A notification's topic and message, as a pull and a recording's search give them. */
function notice(
  topic: string,
  rule: string | null,
  item: string,
  on: boolean,
  at: string,
  input?: string,
): string {
  const source = input
    ? `<tt:SimpleItem Name="InputToken" Value="${input}"/>`
    : `<tt:SimpleItem Name="VideoSourceConfigurationToken" Value="VideoSourceToken"/>` +
      (rule ? `<tt:SimpleItem Name="Rule" Value="${rule}"/>` : "");
  return `<wsnt:Topic Dialect="http://www.onvif.org/ver10/tev/topicExpression/ConcreteSet">` +
    `${topic}</wsnt:Topic><wsnt:Message><tt:Message UtcTime="${at}" ` +
    `PropertyOperation="Changed"><tt:Source>${source}</tt:Source>` +
    `<tt:Data><tt:SimpleItem Name="${item}" Value="${on}"/></tt:Data></tt:Message></wsnt:Message>`;
}

/** A recorded event's notification, on the topic the camera's live events use for its kind. */
function recordedNotice(e: CameraRecordings["events"][number]): string {
  return e.kind === "motion"
    ? notice(
      "tns1:RuleEngine/CellMotionDetector/Motion",
      "MyMotionDetectorRule",
      "IsMotion",
      e.on,
      e.at,
    )
    : e.kind === "tamper"
    ? notice("tns1:VideoSource/GlobalSceneChange/ImagingService", null, "State", e.on, e.at)
    : notice("tns1:Device/Trigger/DigitalInput", null, "LogicalState", e.on, e.at, e.input);
}

/** Pull-point creations being answered now, and the most at once (shareable between cameras). */
export interface SubscribeMeter {
  now: number;
  max: number;
}

/**
 * A camera's ONVIF events as a test drives them: `motion(true)` queues a notification on the
 * topic `tns1:RuleEngine/CellMotionDetector/Motion`, which the next `PullMessages` (or one
 * waiting, at most its timeout) returns. It counts what subscribers did. `subscribeMs` makes
 * each pull-point creation take that long (a slow camera); `meter` counts those in progress.
 */
export class CameraEvents {
  /** Pull points created, pulls answered, renewals, unsubscriptions. */
  readonly counts = { subscribed: 0, pulls: 0, renewed: 0, unsubscribed: 0 };
  readonly meter: SubscribeMeter;
  #subscribeMs: number;
  #queue: string[] = [];
  #waiters: (() => void)[] = [];
  #closed = false;

  constructor(opts: { subscribeMs?: number; meter?: SubscribeMeter } = {}) {
    this.#subscribeMs = opts.subscribeMs ?? 0;
    this.meter = opts.meter ?? { now: 0, max: 0 };
  }

  /** One pull-point creation: counted in progress for `subscribeMs`. */
  async subscribing(): Promise<void> {
    const m = this.meter;
    m.max = Math.max(m.max, ++m.now);
    try {
      if (this.#subscribeMs > 0) await new Promise((r) => setTimeout(r, this.#subscribeMs));
    } finally {
      m.now--;
    }
  }

  /** Reports motion starting (true) or ending (false). */
  motion(on: boolean): void {
    this.#notify(
      "tns1:RuleEngine/CellMotionDetector/Motion",
      "MyMotionDetectorRule",
      "IsMotion",
      on,
    );
  }

  /** Reports tampering (ONVIF's global scene change: the camera covered or turned) or its end. */
  tamper(on: boolean): void {
    this.#notify("tns1:VideoSource/GlobalSceneChange/ImagingService", null, "State", on);
  }

  /** Reports one of its alarm inputs (a door contact) active (true) or back to normal (false). */
  input(token: string, on: boolean): void {
    this.#notify("tns1:Device/Trigger/DigitalInput", null, "LogicalState", on, token);
  }

  #notify(topic: string, rule: string | null, item: string, on: boolean, input?: string) {
    const at = new Date().toISOString().replace(/\.\d+Z$/, "Z");
    this.#queue.push(
      `<wsnt:NotificationMessage>${notice(topic, rule, item, on, at, input)}` +
        `</wsnt:NotificationMessage>`,
    );
    this.#wake();
  }

  /** Answers waiting pulls at once (the camera stops). */
  close(): void {
    this.#closed = true;
    this.#wake();
  }

  /** The notifications queued now, or after at most `ms` when none are. */
  async take(ms: number): Promise<string> {
    if (!this.#queue.length && !this.#closed) {
      await new Promise<void>((resolve) => {
        const t = setTimeout(done, ms);
        this.#waiters.push(done);
        function done() {
          clearTimeout(t);
          resolve();
        }
      });
    }
    return this.#queue.splice(0).join("");
  }

  #wake() {
    for (const w of this.#waiters.splice(0)) w();
  }
}

/** What the fake camera says it is unless told otherwise. */
export const ONVIF_IDENTITY = {
  manufacturer: "HIKVISION",
  model: "DS-2CD2143G2-I",
  firmware: "V5.7.3 build 220112",
};

/** The snapshot path the fake camera's GetSnapshotUri gives (served, behind Digest, by camera.ts). */
export const ONVIF_SNAPSHOT_PATH = "/onvif-http/snapshot?Profile_1";
/** The default stream path. */
export const ONVIF_STREAM_PATH = "/Streaming/Channels/101?transportmode=unicast&profile=Profile_1";
/** The default sub-stream path (the second profile's). */
export const ONVIF_SUB_STREAM_PATH =
  "/Streaming/Channels/102?transportmode=unicast&profile=Profile_2";

const envelope = (body: string) =>
  `<?xml version="1.0" encoding="UTF-8"?><SOAP-ENV:Envelope ` +
  `xmlns:SOAP-ENV="http://www.w3.org/2003/05/soap-envelope" ` +
  `xmlns:tds="http://www.onvif.org/ver10/device/wsdl" xmlns:trt="http://www.onvif.org/ver10/media/wsdl" ` +
  `xmlns:tev="http://www.onvif.org/ver10/events/wsdl" xmlns:wsnt="http://docs.oasis-open.org/wsn/b-2" ` +
  `xmlns:tt="http://www.onvif.org/ver10/schema"><SOAP-ENV:Body>${body}</SOAP-ENV:Body></SOAP-ENV:Envelope>`;

const soap = (body: string, status = 200) =>
  new Response(envelope(body), {
    status,
    headers: { "content-type": "application/soap+xml; charset=utf-8" },
  });

const notAuthorized = () =>
  soap(
    `<SOAP-ENV:Fault><SOAP-ENV:Code><SOAP-ENV:Value>SOAP-ENV:Sender</SOAP-ENV:Value>` +
      `<SOAP-ENV:Subcode><SOAP-ENV:Value>ter:NotAuthorized</SOAP-ENV:Value></SOAP-ENV:Subcode>` +
      `</SOAP-ENV:Code><SOAP-ENV:Reason><SOAP-ENV:Text xml:lang="en">Sender not Authorized` +
      `</SOAP-ENV:Text></SOAP-ENV:Reason></SOAP-ENV:Fault>`,
    400,
  );

const text = (xml: string, name: string) =>
  new RegExp(`<(?:\\w+:)?${name}(?:\\s[^>]*)?>([^<]*)</(?:\\w+:)?${name}>`).exec(xml)?.[1] ?? null;

/** The body of the first element named `name` (any prefix) in `xml`, or "". */
const xmlBlock = (xml: string, name: string) =>
  new RegExp(`<(?:\\w+:)?${name}(?:\\s[^>]*)?>([\\s\\S]*?)</(?:\\w+:)?${name}>`).exec(xml)?.[1] ??
    "";

/** Whether the envelope carries a right UsernameToken for admin:12345 dated by `clock`. */
function signed(xml: string, clock: number): boolean {
  const user = text(xml, "Username");
  const password = text(xml, "Password");
  const nonce = text(xml, "Nonce");
  const created = text(xml, "Created");
  if (user !== "admin" || !password || !nonce || !created) return false;
  if (Math.abs(Date.parse(created) - clock) > 5_000) return false;
  const want = createHash("sha1").update(Buffer.from(nonce, "base64")).update(created)
    .update("12345").digest("base64");
  return password === want;
}

/**
 * The answer to an ONVIF request at `path` with `body`, or null when `path` is not an ONVIF
 * service of this camera.
 */
export async function onvifAnswer(
  path: string,
  body: string,
  o: OnvifOptions,
  signal?: () => AbortSignal,
): Promise<Response | null> {
  const media = o.mediaPath ?? "/onvif/Media";
  const events = o.events ? ["/onvif/Events", "/onvif/Subscription"] : [];
  if (o.ptz) events.push("/onvif/PTZ");
  if (o.focus) events.push("/onvif/Imaging");
  if (o.recordings) events.push("/onvif/Recording", "/onvif/Replay", "/onvif/Search");
  if (path !== "/onvif/device_service" && path !== media && !events.includes(path)) return null;
  const clock = Date.now() + (o.time ? o.time.offsetMs : (o.clockOffsetMs ?? 0));
  const call = /<(?:\w+:)?Body>\s*<(?:\w+:)?(\w+)/.exec(body)?.[1] ?? "";
  if (path === "/onvif/device_service") {
    if (call === "GetSystemDateAndTime") {
      const t = new Date(clock);
      return soap(
        `<tds:GetSystemDateAndTimeResponse><tds:SystemDateAndTime><tt:DateTimeType>` +
          `${o.time?.keptBy ?? "NTP"}</tt:DateTimeType>${
            o.time
              ? `<tt:DaylightSavings>${o.time.daylightSavings}</tt:DaylightSavings>` +
                `<tt:TimeZone><tt:TZ>${o.time.timeZone}</tt:TZ></tt:TimeZone>`
              : ""
          }<tt:UTCDateTime><tt:Time><tt:Hour>${t.getUTCHours()}</tt:Hour>` +
          `<tt:Minute>${t.getUTCMinutes()}</tt:Minute><tt:Second>${t.getUTCSeconds()}` +
          `</tt:Second></tt:Time><tt:Date><tt:Year>${t.getUTCFullYear()}</tt:Year><tt:Month>` +
          `${t.getUTCMonth() + 1}</tt:Month><tt:Day>${t.getUTCDate()}</tt:Day></tt:Date>` +
          `</tt:UTCDateTime></tds:SystemDateAndTime></tds:GetSystemDateAndTimeResponse>`,
      );
    }
    if (call === "GetCapabilities") {
      return soap(
        `<tds:GetCapabilitiesResponse><tds:Capabilities><tt:Media><tt:XAddr>` +
          `http://camera.invalid${media}</tt:XAddr></tt:Media>${
            o.events
              ? `<tt:Events><tt:XAddr>http://camera.invalid/onvif/Events</tt:XAddr>` +
                `<tt:WSPullPointSupport>true</tt:WSPullPointSupport></tt:Events>`
              : ""
          }${
            o.ptz?.inCapabilities
              ? `<tt:PTZ><tt:XAddr>http://camera.invalid/onvif/PTZ</tt:XAddr></tt:PTZ>`
              : ""
          }${
            o.focus?.inCapabilities
              ? `<tt:Imaging><tt:XAddr>http://camera.invalid/onvif/Imaging</tt:XAddr></tt:Imaging>`
              : ""
          }</tds:Capabilities></tds:GetCapabilitiesResponse>`,
      );
    }
    if (call === "GetServices") {
      const service = (ns: string, at: string) =>
        `<tds:Service><tds:Namespace>${ns}</tds:Namespace><tds:XAddr>http://camera.invalid${at}` +
        `</tds:XAddr><tds:Version><tt:Major>2</tt:Major><tt:Minor>60</tt:Minor></tds:Version>` +
        `</tds:Service>`;
      return soap(
        `<tds:GetServicesResponse>${
          service("http://www.onvif.org/ver10/device/wsdl", "/onvif/device_service")
        }${service("http://www.onvif.org/ver10/media/wsdl", media)}${
          o.events ? service("http://www.onvif.org/ver10/events/wsdl", "/onvif/Events") : ""
        }${o.ptz ? service("http://www.onvif.org/ver20/ptz/wsdl", "/onvif/PTZ") : ""}${
          o.focus ? service("http://www.onvif.org/ver20/imaging/wsdl", "/onvif/Imaging") : ""
        }${
          o.recordings
            ? service("http://www.onvif.org/ver10/recording/wsdl", "/onvif/Recording") +
              service("http://www.onvif.org/ver10/replay/wsdl", "/onvif/Replay") +
              service("http://www.onvif.org/ver10/search/wsdl", "/onvif/Search")
            : ""
        }</tds:GetServicesResponse>`,
      );
    }
    if (call === "GetDeviceInformation") {
      if (!signed(body, clock)) return notAuthorized();
      const it = o.identity ?? ONVIF_IDENTITY;
      return soap(
        `<tds:GetDeviceInformationResponse><tds:Manufacturer>${it.manufacturer}</tds:Manufacturer>` +
          `<tds:Model>${it.model}</tds:Model><tds:FirmwareVersion>${it.firmware}` +
          `</tds:FirmwareVersion><tds:SerialNumber>DS-2CD2143G2-I20220112AAWRJ12345678` +
          `</tds:SerialNumber><tds:HardwareId>88</tds:HardwareId></tds:GetDeviceInformationResponse>`,
      );
    }
    if ((call === "GetRelayOutputs" || call === "SetRelayOutputState") && o.relays) {
      if (!signed(body, clock)) return notAuthorized();
      if (call === "GetRelayOutputs") {
        return soap(
          `<tds:GetRelayOutputsResponse>${
            o.relays.outputs.map((r) =>
              `<tds:RelayOutputs token="${r.token}"><tt:Properties><tt:Mode>${r.mode}</tt:Mode>` +
              `<tt:DelayTime>${r.delay}</tt:DelayTime><tt:IdleState>open</tt:IdleState>` +
              `</tt:Properties></tds:RelayOutputs>`
            ).join("")
          }</tds:GetRelayOutputsResponse>`,
        );
      }
      const token = text(body, "RelayOutputToken") ?? "";
      const state = text(body, "LogicalState") ?? "";
      if (
        !o.relays.outputs.some((r) => r.token === token) ||
        (state !== "active" && state !== "inactive")
      ) {
        return soap(
          `<SOAP-ENV:Fault><SOAP-ENV:Code><SOAP-ENV:Value>SOAP-ENV:Sender</SOAP-ENV:Value>` +
            `</SOAP-ENV:Code><SOAP-ENV:Reason><SOAP-ENV:Text xml:lang="en">Invalid relay output` +
            `</SOAP-ENV:Text></SOAP-ENV:Reason></SOAP-ENV:Fault>`,
          400,
        );
      }
      o.relays.state.set(token, state);
      o.relays.told.push({ token, state });
      return soap("<tds:SetRelayOutputStateResponse/>");
    }
    if (call === "SetSystemDateAndTime" && o.time) {
      if (!signed(body, clock)) return notAuthorized();
      const n = (name: string) => Number(text(body, name));
      const utc = Date.UTC(
        n("Year"),
        n("Month") - 1,
        n("Day"),
        n("Hour"),
        n("Minute"),
        n("Second"),
      );
      const keptBy = text(body, "DateTimeType") ?? "";
      if (!Number.isFinite(utc) || (keptBy !== "Manual" && keptBy !== "NTP")) {
        return soap("<SOAP-ENV:Fault/>", 400);
      }
      o.time.told.push({
        keptBy,
        daylightSavings: text(body, "DaylightSavings") ?? "",
        timeZone: text(body, "TZ"),
        utc: new Date(utc).toISOString(),
      });
      o.time.keptBy = keptBy;
      o.time.offsetMs = utc - Date.now();
      return soap("<tds:SetSystemDateAndTimeResponse/>");
    }
    if (call === "SystemReboot" && o.reboot) {
      if (!signed(body, clock)) return notAuthorized();
      o.reboot.count++;
      const said = o.reboot.message.replaceAll("&", "&amp;").replaceAll("<", "&lt;");
      return soap(
        `<tds:SystemRebootResponse><tds:Message>${said}</tds:Message></tds:SystemRebootResponse>`,
      );
    }
    return soap("<SOAP-ENV:Fault/>", 400);
  }
  if (!signed(body, clock)) return notAuthorized();
  if (o.hang?.includes(call)) {
    // Until the camera stops (its server aborts the request): never, as far as the caller knows.
    // (The request's signal is read only here: Deno warns about any request whose signal is read.)
    await new Promise<void>((resolve) => signal?.().addEventListener("abort", () => resolve()));
    return soap("<SOAP-ENV:Fault/>", 500);
  }
  if (o.events && path === "/onvif/Events" && call === "CreatePullPointSubscription") {
    await o.events.subscribing();
    const n = ++o.events.counts.subscribed;
    return soap(
      `<tev:CreatePullPointSubscriptionResponse><tev:SubscriptionReference><wsa5:Address ` +
        `xmlns:wsa5="http://www.w3.org/2005/08/addressing">http://camera.invalid/onvif/` +
        `Subscription?Idx=${n}</wsa5:Address></tev:SubscriptionReference>` +
        `</tev:CreatePullPointSubscriptionResponse>`,
    );
  }
  if (o.events && path === "/onvif/Subscription") {
    if (call === "PullMessages") {
      const seconds = Number(/PT(\d+)S/.exec(text(body, "Timeout") ?? "")?.[1] ?? "1");
      const messages = await o.events.take(Math.min(seconds, 10) * 1000);
      o.events.counts.pulls++;
      return soap(`<tev:PullMessagesResponse>${messages}</tev:PullMessagesResponse>`);
    }
    if (call === "Renew") {
      o.events.counts.renewed++;
      return soap("<wsnt:RenewResponse/>");
    }
    if (call === "Unsubscribe") {
      o.events.counts.unsubscribed++;
      return soap("<wsnt:UnsubscribeResponse/>");
    }
    return soap("<SOAP-ENV:Fault/>", 400);
  }
  if (o.ptz && path === "/onvif/PTZ") {
    const profile = text(body, "ProfileToken") ?? "";
    if (profile !== "Profile_1") return soap("<SOAP-ENV:Fault/>", 400);
    if (call === "ContinuousMove") {
      const attr = (el: string, a: string) =>
        Number(new RegExp(`<(?:\\w+:)?${el}\\b[^>]*\\s${a}="([^"]*)"`).exec(body)?.[1] ?? "0");
      o.ptz.told.push({
        call: "move",
        profile,
        pan: attr("PanTilt", "x"),
        tilt: attr("PanTilt", "y"),
        zoom: attr("Zoom", "x"),
        timeout: text(body, "Timeout") ?? "",
      });
      return soap(
        '<tptz:ContinuousMoveResponse xmlns:tptz="http://www.onvif.org/ver20/ptz/wsdl"/>',
      );
    }
    if (call === "GetPresets") {
      const presets = o.ptz.presets.map((p) =>
        `<tptz:Preset token="${p.token}">${
          p.name === null ? "" : `<tt:Name>${p.name.replaceAll("&", "&amp;")}</tt:Name>`
        }<tt:PTZPosition><tt:PanTilt x="0" y="0"/></tt:PTZPosition></tptz:Preset>`
      ).join("");
      return soap(
        `<tptz:GetPresetsResponse xmlns:tptz="http://www.onvif.org/ver20/ptz/wsdl">${presets}` +
          `</tptz:GetPresetsResponse>`,
      );
    }
    if (call === "GotoPreset") {
      const preset = text(body, "PresetToken") ?? "";
      if (!o.ptz.presets.some((p) => p.token === preset)) return soap("<SOAP-ENV:Fault/>", 400);
      o.ptz.told.push({ call: "preset", profile, preset });
      return soap(`<tptz:GotoPresetResponse xmlns:tptz="http://www.onvif.org/ver20/ptz/wsdl"/>`);
    }
    if (call === "SetPreset") {
      // Over the preset named by its token, else a new one (the next number).
      const name = (text(body, "PresetName") ?? "")
        .replace(/&#(\d+);/g, (_, n) => String.fromCharCode(Number(n)))
        .replaceAll("&lt;", "<").replaceAll("&gt;", ">").replaceAll("&amp;", "&");
      const asked = text(body, "PresetToken");
      if (asked !== null && !o.ptz.presets.some((p) => p.token === asked)) {
        return soap("<SOAP-ENV:Fault/>", 400);
      }
      const token = asked ??
        String(Math.max(0, ...o.ptz.presets.map((p) => Number(p.token) || 0)) + 1);
      const kept = o.ptz.presets.find((p) => p.token === token);
      if (kept) kept.name = name;
      else o.ptz.presets.push({ token, name });
      o.ptz.told.push({ call: "save", profile, name, preset: asked });
      return soap(
        `<tptz:SetPresetResponse xmlns:tptz="http://www.onvif.org/ver20/ptz/wsdl">` +
          `<tptz:PresetToken>${token}</tptz:PresetToken></tptz:SetPresetResponse>`,
      );
    }
    if (call === "RemovePreset") {
      const preset = text(body, "PresetToken") ?? "";
      const at = o.ptz.presets.findIndex((p) => p.token === preset);
      if (at < 0) return soap("<SOAP-ENV:Fault/>", 400);
      o.ptz.presets.splice(at, 1);
      o.ptz.told.push({ call: "remove", profile, preset });
      return soap('<tptz:RemovePresetResponse xmlns:tptz="http://www.onvif.org/ver20/ptz/wsdl"/>');
    }
    if (call === "Stop") {
      o.ptz.told.push({ call: "stop", profile });
      return soap('<tptz:StopResponse xmlns:tptz="http://www.onvif.org/ver20/ptz/wsdl"/>');
    }
    return soap("<SOAP-ENV:Fault/>", 400);
  }
  if (o.recordings && path === "/onvif/Recording" && call === "GetRecordings") {
    return soap(
      `<trc:GetRecordingsResponse xmlns:trc="http://www.onvif.org/ver10/recording/wsdl">` +
        o.recordings.all().map((r, i) =>
          `<trc:RecordingItem><tt:RecordingToken>${r.token}</tt:RecordingToken>` +
          `<tt:Configuration><tt:Source><tt:SourceId>VideoSource_${i + 1}</tt:SourceId>` +
          `<tt:Name>${r.name.replaceAll("&", "&amp;")}</tt:Name></tt:Source>` +
          `<tt:Content>Main</tt:Content></tt:Configuration></trc:RecordingItem>`
        ).join("") + `</trc:GetRecordingsResponse>`,
    );
  }
  if (o.recordings && path === "/onvif/Replay" && call === "GetReplayUri") {
    const token = text(body, "RecordingToken");
    if (!o.recordings.all().some((r) => r.token === token)) return soap("<SOAP-ENV:Fault/>", 400);
    o.recordings.replayUris++;
    return soap(
      `<trp:GetReplayUriResponse xmlns:trp="http://www.onvif.org/ver10/replay/wsdl"><trp:Uri>` +
        `rtsp://camera.invalid:554/onvif-replay/${token}</trp:Uri></trp:GetReplayUriResponse>`,
    );
  }
  if (o.recordings && path === "/onvif/Search" && call === "GetRecordingInformation") {
    const r = o.recordings.all().find((r) => r.token === text(body, "RecordingToken"));
    if (!r) return soap("<SOAP-ENV:Fault/>", 400);
    return soap(
      `<tse:GetRecordingInformationResponse xmlns:tse="http://www.onvif.org/ver10/search/wsdl">` +
        `<tse:RecordingInformation><tt:RecordingToken>${r.token}</tt:RecordingToken>` +
        `<tt:Source><tt:Name>${r.name.replaceAll("&", "&amp;")}</tt:Name></tt:Source>` +
        `<tt:EarliestRecording>${r.from}</tt:EarliestRecording>` +
        `<tt:LatestRecording>${r.until}</tt:LatestRecording>` +
        `<tt:RecordingStatus>Recording</tt:RecordingStatus></tse:RecordingInformation>` +
        `</tse:GetRecordingInformationResponse>`,
    );
  }
  if (o.recordings && path === "/onvif/Search" && call === "GetRecordingSummary") {
    return soap(
      `<tse:GetRecordingSummaryResponse xmlns:tse="http://www.onvif.org/ver10/search/wsdl">` +
        `<tse:Summary><tt:DataFrom>${o.recordings.from}</tt:DataFrom><tt:DataUntil>` +
        `${o.recordings.until}</tt:DataUntil><tt:NumberRecordings>1</tt:NumberRecordings>` +
        `</tse:Summary></tse:GetRecordingSummaryResponse>`,
    );
  }
  if (o.recordings && path === "/onvif/Search" && call === "FindEvents") {
    const r = o.recordings;
    const from = text(body, "StartPoint") ?? "", until = text(body, "EndPoint") ?? "";
    const max = Number(text(body, "MaxMatches") ?? "1000");
    const recording = text(body, "IncludedRecordings") ?? "";
    if (!r.all().some((x) => x.token === recording) || !Date.parse(from)) {
      return soap("<SOAP-ENV:Fault/>", 400);
    }
    r.searches.push({ from, until, max, recording, reads: 0, ended: false });
    return soap(
      `<tse:FindEventsResponse xmlns:tse="http://www.onvif.org/ver10/search/wsdl">` +
        `<tse:SearchToken>SearchToken-${r.searches.length}</tse:SearchToken>` +
        `</tse:FindEventsResponse>`,
    );
  }
  if (o.recordings && path === "/onvif/Search" && call === "GetEventSearchResults") {
    const r = o.recordings;
    const search =
      r.searches[Number(/^SearchToken-(\d+)$/.exec(text(body, "SearchToken") ?? "")?.[1]) - 1];
    if (!search || search.ended) return soap("<SOAP-ENV:Fault/>", 400);
    // The search's matches, oldest first, at most its MaxMatches; each read gives the next ones.
    const from = Date.parse(search.from),
      until = Date.parse(search.until || "9999-01-01T00:00:00Z");
    const matched = r.events.filter((e) =>
      (e.recording ?? "RecordingToken001") === search.recording &&
      Date.parse(e.at) >= from && Date.parse(e.at) <= until
    )
      .sort((a, b) => Date.parse(a.at) - Date.parse(b.at)).slice(0, search.max);
    const start = search.reads * r.perRead;
    search.reads++;
    const part = matched.slice(
      start,
      start + Math.min(r.perRead, Number(text(body, "MaxResults") ?? "100")),
    );
    const done = start + r.perRead >= matched.length;
    return soap(
      `<tse:GetEventSearchResultsResponse xmlns:tse="http://www.onvif.org/ver10/search/wsdl">` +
        `<tse:ResultList><tt:SearchState>${done ? "Completed" : "Searching"}</tt:SearchState>` +
        part.map((e) =>
          `<tt:Result><tt:RecordingToken>${search.recording}</tt:RecordingToken>` +
          `<tt:TrackToken>VIDEO001</tt:TrackToken><tt:Time>${e.at}</tt:Time>` +
          `<tt:Event>${
            recordedNotice(e)
          }</tt:Event><tt:StartStateEvent>false</tt:StartStateEvent>` +
          `</tt:Result>`
        ).join("") + `</tse:ResultList></tse:GetEventSearchResultsResponse>`,
    );
  }
  if (o.recordings && path === "/onvif/Search" && call === "EndSearch") {
    const r = o.recordings;
    const search =
      r.searches[Number(/^SearchToken-(\d+)$/.exec(text(body, "SearchToken") ?? "")?.[1]) - 1];
    if (!search) return soap("<SOAP-ENV:Fault/>", 400);
    search.ended = true;
    return soap(
      `<tse:EndSearchResponse xmlns:tse="http://www.onvif.org/ver10/search/wsdl">` +
        `<tse:Endpoint>${search.until}</tse:Endpoint></tse:EndSearchResponse>`,
    );
  }
  if (o.focus && path === "/onvif/Imaging") {
    const source = text(body, "VideoSourceToken") ?? "";
    if (source !== "VideoSource_1") return soap("<SOAP-ENV:Fault/>", 400);
    const timg = `xmlns:timg="http://www.onvif.org/ver20/imaging/wsdl"`;
    if (call === "GetMoveOptions") {
      const c = o.focus.continuous;
      return soap(
        `<timg:GetMoveOptionsResponse ${timg}><timg:MoveOptions>${
          c
            ? `<tt:Continuous><tt:Speed><tt:Min>${c.min}</tt:Min><tt:Max>${c.max}</tt:Max>` +
              `</tt:Speed></tt:Continuous>`
            : `<tt:Absolute><tt:Position><tt:Min>0</tt:Min><tt:Max>1</tt:Max></tt:Position>` +
              `</tt:Absolute>`
        }</timg:MoveOptions></timg:GetMoveOptionsResponse>`,
      );
    }
    if (call === "Move") {
      const speed = text(xmlBlock(body, "Continuous"), "Speed");
      if (!o.focus.continuous || speed === null) return soap("<SOAP-ENV:Fault/>", 400);
      o.focus.told.push({ call: "move", source, speed: Number(speed) });
      o.focus.moving = true;
      return soap(`<timg:MoveResponse ${timg}/>`);
    }
    if (call === "Stop") {
      o.focus.told.push({ call: "stop", source });
      o.focus.moving = false;
      return soap(`<timg:StopResponse ${timg}/>`);
    }
    if (call === "GetImagingSettings") {
      return soap(
        `<timg:GetImagingSettingsResponse ${timg}><timg:ImagingSettings><tt:Brightness>50` +
          `</tt:Brightness><tt:Focus><tt:AutoFocusMode>${o.focus.mode}</tt:AutoFocusMode>` +
          `</tt:Focus></timg:ImagingSettings></timg:GetImagingSettingsResponse>`,
      );
    }
    if (call === "SetImagingSettings") {
      const mode = text(xmlBlock(body, "Focus"), "AutoFocusMode");
      if (mode !== "AUTO" && mode !== "MANUAL") return soap("<SOAP-ENV:Fault/>", 400);
      o.focus.mode = mode;
      o.focus.told.push({ call: "mode", source, mode });
      return soap(`<timg:SetImagingSettingsResponse ${timg}/>`);
    }
    return soap("<SOAP-ENV:Fault/>", 400);
  }
  if (call === "GetVideoSources") {
    return soap(
      `<trt:GetVideoSourcesResponse><trt:VideoSources token="VideoSource_1"><tt:Framerate>25` +
        `</tt:Framerate><tt:Resolution><tt:Width>1920</tt:Width><tt:Height>1080</tt:Height>` +
        `</tt:Resolution></trt:VideoSources></trt:GetVideoSourcesResponse>`,
    );
  }
  const sub = o.subStreamPath === undefined ? ONVIF_SUB_STREAM_PATH : o.subStreamPath;
  if (call === "GetProfiles") {
    const ptzConfig = o.ptz
      ? `<tt:PTZConfiguration token="PTZ_1"><tt:Name>PTZ</tt:Name></tt:PTZConfiguration>`
      : "";
    return soap(
      `<trt:GetProfilesResponse><trt:Profiles fixed="true" token="Profile_1"><tt:Name>mainStream` +
        `</tt:Name>${ptzConfig}</trt:Profiles>${
          sub === null
            ? ""
            : `<trt:Profiles fixed="true" token="Profile_2"><tt:Name>subStream</tt:Name></trt:Profiles>`
        }</trt:GetProfilesResponse>`,
    );
  }
  const profile = text(body, "ProfileToken");
  const uri = (u: string) =>
    `<trt:MediaUri><tt:Uri>${
      u.replaceAll("&", "&amp;")
    }</tt:Uri><tt:InvalidAfterConnect>false</tt:InvalidAfterConnect></trt:MediaUri>`;
  if (call === "GetStreamUri" && profile === "Profile_2" && sub !== null) {
    return soap(
      `<trt:GetStreamUriResponse>${
        uri(`rtsp://camera.invalid:554${sub}`)
      }</trt:GetStreamUriResponse>`,
    );
  }
  if (profile !== "Profile_1") return soap("<SOAP-ENV:Fault/>", 400);
  if (call === "GetStreamUri") {
    return soap(
      `<trt:GetStreamUriResponse>${
        uri(`rtsp://camera.invalid:554${o.streamPath ?? ONVIF_STREAM_PATH}`)
      }</trt:GetStreamUriResponse>`,
    );
  }
  if (call === "GetSnapshotUri") {
    return soap(
      `<trt:GetSnapshotUriResponse>${
        uri(
          `http://camera.invalid${
            o.snapshotPort ? `:${o.snapshotPort}` : ""
          }${ONVIF_SNAPSHOT_PATH}`,
        )
      }</trt:GetSnapshotUriResponse>`,
    );
  }
  return soap("<SOAP-ENV:Fault/>", 400);
}
