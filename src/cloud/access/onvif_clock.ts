/**
 * A camera's clock over ONVIF through its tunnel: read (`GetSystemDateAndTime`, unsigned) and set
 * to the cloud's time (`SetSystemDateAndTime`, signed). Camera LANs are often cut off from the
 * internet, so a camera told to keep time by NTP keeps none, and its recordings, overlays and
 * event times drift by minutes or hours — the picture an alarm is about is then looked for at the
 * wrong time. The installer or operator sees how far off it is from the live view and sets it in
 * one press: the camera then keeps time by itself (`Manual`), with its time zone and daylight
 * saving as they were.
 * @module
 */
import { escapeXml, xmlBlocks, xmlTexts } from "../../shared/xml_text.ts";
import { cameraTime, DEVICE_SERVICE, OnvifCamera, OnvifError } from "./onvif_soap.ts";

/** How far off a camera's clock may be before the live view offers to set it. */
export const CLOCK_OFF_MS = 5_000;

/** A camera's clock as it says it is. */
export interface CameraClock {
  /** Its UTC time when it answered (ms), to the second. */
  time: number;
  /** Its time minus the cloud's (ms; a second either way is the camera's rounding). */
  offsetMs: number;
  /** How it keeps time (`NTP`, `Manual`), or null when it does not say. */
  keptBy: "NTP" | "Manual" | null;
  /** Its POSIX time zone (`CET-1CEST,M3.5.0,M10.5.0/3`), or null. */
  timeZone: string | null;
  /** Whether it applies daylight saving itself. */
  daylightSavings: boolean;
}

/** The clock in a GetSystemDateAndTime answer read at `now`, or null when it gives no UTC time. */
export function cameraClockOf(xml: string, now: number): CameraClock | null {
  const time = cameraTime(xml);
  if (time === null) return null;
  const type = xmlTexts(xml, "DateTimeType", 1, 16)[0];
  const tz = xmlTexts(xmlBlocks(xml, "TimeZone", 1)[0] ?? "", "TZ", 1, 128)[0];
  return {
    time,
    offsetMs: time - now,
    keptBy: type === "NTP" || type === "Manual" ? type : null,
    timeZone: tz && /^[\x20-\x7e]+$/.test(tz) ? tz : null,
    daylightSavings: xmlTexts(xml, "DaylightSavings", 1, 8)[0] === "true",
  };
}

/**
 * The body of a SetSystemDateAndTime to `utc` (ms), kept by the camera itself, with its time
 * zone and daylight saving as they were (`timeZone` null: left out, the camera keeps its own).
 */
export function setClockBody(
  utc: number,
  daylightSavings: boolean,
  timeZone: string | null,
): string {
  // To the nearest second (the camera takes whole seconds).
  const t = new Date(Math.round(utc / 1000) * 1000);
  return `<tds:SetSystemDateAndTime><tds:DateTimeType>Manual</tds:DateTimeType>` +
    `<tds:DaylightSavings>${daylightSavings}</tds:DaylightSavings>` +
    (timeZone === null
      ? ""
      : `<tds:TimeZone><tt:TZ>${escapeXml(timeZone)}</tt:TZ></tds:TimeZone>`) +
    `<tds:UTCDateTime><tt:Time><tt:Hour>${t.getUTCHours()}</tt:Hour><tt:Minute>` +
    `${t.getUTCMinutes()}</tt:Minute><tt:Second>${t.getUTCSeconds()}</tt:Second></tt:Time>` +
    `<tt:Date><tt:Year>${t.getUTCFullYear()}</tt:Year><tt:Month>${t.getUTCMonth() + 1}` +
    `</tt:Month><tt:Day>${t.getUTCDate()}</tt:Day></tt:Date></tds:UTCDateTime>` +
    `</tds:SetSystemDateAndTime>`;
}

/** One camera's clock over `http` (its web port). */
export class OnvifClock extends OnvifCamera {
  /** Nothing to find: the device service is where every camera has it. */
  locate(): Promise<null> {
    return Promise.resolve(null);
  }

  /** The camera's clock now; OnvifError when it does not say. */
  async read(): Promise<CameraClock> {
    const xml = await this.soap().call(
      DEVICE_SERVICE,
      "<tds:GetSystemDateAndTime/>",
      false,
    );
    const clock = cameraClockOf(xml, this.now());
    if (!clock) throw new OnvifError("the camera did not say its UTC time");
    return clock;
  }

  /**
   * Sets the camera's clock to the cloud's (signed with a token dated by the camera's own clock,
   * which it checks), then reads it back: its clock before and as it is now.
   */
  async set(): Promise<{ before: CameraClock; after: CameraClock }> {
    const before = await this.read();
    await this.soap(before.offsetMs).call(
      DEVICE_SERVICE,
      setClockBody(this.now(), before.daylightSavings, before.timeZone),
      true,
    );
    return { before, after: await this.read() };
  }
}
