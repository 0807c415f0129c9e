/**
 * A camera's alarms over ONVIF's pull-point events: the cloud subscribes through the tunnel
 * (`CreatePullPointSubscription` on the events service the capabilities name), long-polls
 * `PullMessages`, renews the subscription before it ends and unsubscribes when it is done. Only
 * the path of the subscription's address is kept (its host is the camera's LAN address, which the
 * cloud never dials). Every call is signed as the media questions are (onvif_soap.ts).
 *
 * Motion is read from the topics cameras use for it — `tns1:VideoSource/MotionAlarm` (`State`),
 * `tns1:RuleEngine/CellMotionDetector/Motion` (`IsMotion`), and the other `…/Motion…` rules — and
 * their data item's `true`/`false`; tampering (the camera covered, turned or sprayed) from
 * ONVIF's `tns1:VideoSource/GlobalSceneChange/…` (`State`) and the vendors'
 * `…/TamperDetector/Tamper` (`IsTamper`) and `…/Tampering` topics, the same way; and the camera's
 * alarm inputs (a door contact, a detector wired to it) from `tns1:Device/Trigger/DigitalInput`
 * (`LogicalState`, the input named by its `InputToken`) and Axis's `…/IO/Port` (`state`, `port`).
 * @module
 */
import { xmlBlocks, xmlTags, xmlTexts } from "../../shared/xml_text.ts";
import type { DeviceHttp } from "./device_http.ts";
import { OnvifError, OnvifSoap, pathOfUri } from "./onvif_soap.ts";

/** The events service when the camera does not say (the common default). */
export const EVENTS_SERVICE = "/onvif/Events";
/** How long a subscription lives without a renewal, in seconds. */
export const SUBSCRIPTION_S = 120;
/** Notifications read per pull. */
const MESSAGE_LIMIT = 32;
const WSDL = "http://www.onvif.org/ver10/events/wsdl";
const WSN = "http://docs.oasis-open.org/wsn/bw-2";

/** One notification a camera sent. */
export interface CameraNotice {
  /** Its topic (`tns1:RuleEngine/CellMotionDetector/Motion`). */
  topic: string;
  /** The camera's time of it (ms), or null when it gave none readable. */
  at: number | null;
  /** For a motion topic: whether there is motion now; null for any other topic. */
  motion: boolean | null;
  /** For a tampering topic: whether the camera is tampered with now; null for any other. */
  tamper: boolean | null;
  /** For an alarm input's topic: whether the input is active now; null for any other. */
  input: boolean | null;
  /** Which input, as the camera names it (its `InputToken` or `port` source item), if it does. */
  inputName?: string;
}

/** Whether a topic is one of the ways cameras report motion. */
export function isMotionTopic(topic: string): boolean {
  return /(^|[/:])(MotionAlarm|Motion|MotionDetector|MotionRegionDetector)(\/|$)/i.test(topic);
}

/** Whether a topic is one of the ways cameras report tampering. */
export function isTamperTopic(topic: string): boolean {
  return /(^|[/:])(GlobalSceneChange|Tamper|Tampering|TamperDetector)(\/|$)/i.test(topic);
}

/** Whether a topic is one of the ways cameras report an alarm input's state. */
export function isInputTopic(topic: string): boolean {
  return /(^|[/:])DigitalInput(\/|$)|(^|[/:])IO\/Port(\/|$)/i.test(topic);
}

/**
 * The on/off state a notification's data carries: the item of one of `names`, else its only item;
 * `true`/`1` or `false`/`0`, anything else unknown (null).
 */
function stateOf(block: string, names: RegExp): boolean | null {
  const items = xmlTags(xmlBlocks(block, "Data", 1)[0] ?? "", "SimpleItem", ["Name", "Value"], 8);
  const item = items.find((i) => names.test(i.Name ?? "")) ??
    (items.length === 1 ? items[0] : undefined);
  const v = item?.Value?.toLowerCase();
  return v === "true" || v === "1" ? true : v === "false" || v === "0" ? false : null;
}

/** The notifications in a PullMessages answer (at most MESSAGE_LIMIT). */
export function readNotices(xml: string): CameraNotice[] {
  return xmlBlocks(xml, "NotificationMessage", MESSAGE_LIMIT).map(readNotice);
}

/**
 * One notification: the inside of a `NotificationMessage` (its topic and message), as a pull
 * gives it and as a recording's search result carries it (onvif_recording_events.ts).
 */
export function readNotice(block: string): CameraNotice {
  const topic = xmlTexts(block, "Topic", 1, 256)[0] ?? "";
  const utc = xmlTags(block, "Message", ["UtcTime"], 4).find((t) => t.UtcTime)?.UtcTime;
  const at = utc ? Date.parse(utc) : NaN;
  const motion = isMotionTopic(topic)
    ? stateOf(block, /^(IsMotion|State|Motion|MotionActive)$/i)
    : null;
  const tamper = isTamperTopic(topic)
    ? stateOf(block, /^(IsTamper|State|Tamper|Tampering|Active)$/i)
    : null;
  const inputTopic = isInputTopic(topic);
  const input = inputTopic ? stateOf(block, /^(LogicalState|State|Active)$/i) : null;
  const inputName = inputTopic
    ? xmlTags(xmlBlocks(block, "Source", 1)[0] ?? "", "SimpleItem", ["Name", "Value"], 8)
      .find((i) => /^(InputToken|port|Input)$/i.test(i.Name ?? ""))?.Value?.slice(0, 64)
    : undefined;
  return {
    topic,
    at: Number.isFinite(at) ? at : null,
    motion,
    tamper,
    input,
    ...(inputName ? { inputName } : {}),
  };
}

/** One pull-point subscription to a camera's events, over `http` (its web port). */
export class OnvifEvents {
  readonly #soap: OnvifSoap;
  /** The subscription's path on the camera, and its address as given (for WS-Addressing). */
  #path: string | null = null;
  #to = "";

  /** A subscription over `http`; `now` is the cloud's clock. */
  constructor(http: DeviceHttp, now: () => number) {
    this.#soap = new OnvifSoap(http, now);
  }

  /** Whether {@linkcode subscribe} succeeded and no unsubscribe followed. */
  get subscribed(): boolean {
    return this.#path !== null;
  }

  /** Creates the pull point. Throws OnvifError when the camera has no events or refuses. */
  async subscribe(): Promise<void> {
    await this.#soap.syncClock();
    const service = await this.#soap.service("Events", EVENTS_SERVICE);
    const xml = await this.#soap.call(
      service,
      `<tev:CreatePullPointSubscription><tev:InitialTerminationTime>PT${SUBSCRIPTION_S}S` +
        `</tev:InitialTerminationTime></tev:CreatePullPointSubscription>`,
      true,
      { action: `${WSDL}/EventPortType/CreatePullPointSubscriptionRequest`, to: service },
    );
    const address =
      xmlTexts(xmlBlocks(xml, "SubscriptionReference", 1)[0] ?? "", "Address", 1, 1024)[0];
    const path = address ? pathOfUri(address) : null;
    if (!path) throw new OnvifError("the camera gave no pull point for its events");
    this.#path = path;
    this.#to = address!;
  }

  /** Waits up to `timeoutS` seconds for the camera's next notifications. */
  async pull(timeoutS: number): Promise<CameraNotice[]> {
    const xml = await this.#soap.call(
      this.#subscription(),
      `<tev:PullMessages><tev:Timeout>PT${timeoutS}S</tev:Timeout><tev:MessageLimit>` +
        `${MESSAGE_LIMIT}</tev:MessageLimit></tev:PullMessages>`,
      true,
      { action: `${WSDL}/PullPointSubscription/PullMessagesRequest`, to: this.#to },
      (timeoutS + 15) * 1000,
    );
    return readNotices(xml);
  }

  /** Extends the subscription by SUBSCRIPTION_S. */
  async renew(): Promise<void> {
    await this.#soap.call(
      this.#subscription(),
      `<wsnt:Renew><wsnt:TerminationTime>PT${SUBSCRIPTION_S}S</wsnt:TerminationTime></wsnt:Renew>`,
      true,
      { action: `${WSN}/SubscriptionManager/RenewRequest`, to: this.#to },
    );
  }

  /** Ends the subscription (the camera would end it at its termination time anyway). */
  async unsubscribe(): Promise<void> {
    const path = this.#subscription();
    this.#path = null;
    await this.#soap.call(path, "<wsnt:Unsubscribe/>", true, {
      action: `${WSN}/SubscriptionManager/UnsubscribeRequest`,
      to: this.#to,
    });
  }

  #subscription(): string {
    if (this.#path === null) throw new OnvifError("not subscribed to the camera's events");
    return this.#path;
  }
}
