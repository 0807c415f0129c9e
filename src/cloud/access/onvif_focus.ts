/**
 * Focusing a camera's motorised lens over ONVIF (its imaging service) through its tunnel: a
 * varifocal camera zoomed in on a gate, or one whose autofocus hunts at night through rain, is
 * focused nearer or farther from its live view rather than by a technician on a ladder.
 *
 * A nudge is a continuous focus `Move` at a speed (− nearer, + farther, scaled onto the speeds the
 * camera's `GetMoveOptions` gives) and, FOCUS_NUDGE_MS later, `Stop` — both inside one request.
 * The imaging service's continuous move has no timeout of its own (PTZ's has), so nothing a
 * browser does (closed mid-press, a lost link) can leave the lens running to its end stop: the
 * cloud sends the stop itself. Held, the live view sends nudges back to back. "Auto focus" sets
 * the camera's `AutoFocusMode` to AUTO (`SetImagingSettings` with only the focus mode in it, kept
 * by the camera); asking tells the mode the camera is in now (`GetImagingSettings`).
 *
 * Where the imaging service is (`GetCapabilities`, else `GetServices`), which video source it
 * focuses (the first of the media service's `GetVideoSources`) and the camera's speed range are
 * asked once and kept with its clock skew for a minute (onvif_places.ts). Cameras that move their
 * focus only to absolute or relative positions are refused in words (their own web page does).
 * @module
 */
import { escapeXml, xmlAttributes, xmlBlocks, xmlTexts } from "../../shared/xml_text.ts";
import { MEDIA_SERVICE } from "./onvif_media.ts";
import { OnvifCamera, OnvifError } from "./onvif_soap.ts";

/** How long one nudge moves the lens before the cloud stops it. */
export const FOCUS_NUDGE_MS = 300;

/** Where a camera's focus is: its imaging service, the video source, its speed range, its skew. */
export interface FocusPlace {
  service: string;
  source: string;
  /** The continuous focus speeds the camera takes (ONVIF's −1..1 when it does not say). */
  min: number;
  max: number;
  skew: number;
}

/** The focus mode a camera says it is in: it focuses by itself (AUTO) or stays put (MANUAL). */
export type FocusMode = "AUTO" | "MANUAL";

/** The body of a GetMoveOptions of `source`. */
export function moveOptionsBody(source: string): string {
  return `<timg:GetMoveOptions><timg:VideoSourceToken>${
    escapeXml(source)
  }</timg:VideoSourceToken></timg:GetMoveOptions>`;
}

/**
 * The continuous focus speeds a GetMoveOptions answer offers (`{min, max}`; −1..1 when it gives
 * none or nonsense), or null when it offers no continuous focus.
 */
export function continuousFocusOf(xml: string): { min: number; max: number } | null {
  const continuous = xmlBlocks(xml, "Continuous", 1)[0];
  if (continuous === undefined) return null;
  const speed = xmlBlocks(continuous, "Speed", 1)[0] ?? "";
  const min = Number(xmlTexts(speed, "Min", 1, 32)[0]);
  const max = Number(xmlTexts(speed, "Max", 1, 32)[0]);
  return Number.isFinite(min) && Number.isFinite(max) && min < max && min >= -1e3 && max <= 1e3
    ? { min, max }
    : { min: -1, max: 1 };
}

/** `v` of −1..1 (− nearer, + farther) as a speed of min..max, as ONVIF's xs:float (no exponent). */
export function scaledSpeed(v: number, min: number, max: number): string {
  const clamped = Math.max(-1, Math.min(1, v));
  const x = Math.round((min + (clamped + 1) / 2 * (max - min)) * 1000) / 1000;
  return String(x === 0 ? 0 : x);
}

/** The body of a continuous focus Move of `source` at `speed` (already the camera's). */
export function focusMoveBody(source: string, speed: string): string {
  return `<timg:Move><timg:VideoSourceToken>${escapeXml(source)}</timg:VideoSourceToken>` +
    `<timg:Focus><tt:Continuous><tt:Speed>${speed}</tt:Speed></tt:Continuous></timg:Focus>` +
    `</timg:Move>`;
}

/** The body of a Stop of `source`'s focus. */
export function focusStopBody(source: string): string {
  return `<timg:Stop><timg:VideoSourceToken>${
    escapeXml(source)
  }</timg:VideoSourceToken></timg:Stop>`;
}

/** The body of a GetImagingSettings of `source`. */
export function imagingSettingsBody(source: string): string {
  return `<timg:GetImagingSettings><timg:VideoSourceToken>${
    escapeXml(source)
  }</timg:VideoSourceToken></timg:GetImagingSettings>`;
}

/** The body of a SetImagingSettings of `source` that changes its focus mode only, kept. */
export function setFocusModeBody(source: string, mode: FocusMode): string {
  return `<timg:SetImagingSettings><timg:VideoSourceToken>${escapeXml(source)}` +
    `</timg:VideoSourceToken><timg:ImagingSettings><tt:Focus><tt:AutoFocusMode>${mode}` +
    `</tt:AutoFocusMode></tt:Focus></timg:ImagingSettings>` +
    `<timg:ForcePersistence>true</timg:ForcePersistence></timg:SetImagingSettings>`;
}

/** The focus mode in a GetImagingSettings answer, or null when it gives none. */
export function focusModeOf(xml: string): FocusMode | null {
  const mode = xmlTexts(xmlBlocks(xml, "Focus", 1)[0] ?? "", "AutoFocusMode", 1, 16)[0];
  return mode === "AUTO" || mode === "MANUAL" ? mode : null;
}

/** One camera's focus over `http` (its web port). */
export class OnvifFocus extends OnvifCamera {
  /** Asks the camera where its focus is; OnvifError when it has none or refuses. */
  async locate(): Promise<FocusPlace> {
    const soap = this.soap();
    await soap.syncClock();
    const service = await soap.service("Imaging", "");
    if (!service) {
      throw new OnvifError(
        "the camera has no imaging service over ONVIF: it cannot focus from here",
      );
    }
    const media = await soap.service("Media", MEDIA_SERVICE);
    const sources = await soap.call(media, "<trt:GetVideoSources/>", true);
    const source = xmlAttributes(sources, "VideoSources", "token", 1, 64)[0];
    if (!source) throw new OnvifError("the camera lists no video source to focus");
    const range = continuousFocusOf(await soap.call(service, moveOptionsBody(source), true));
    if (!range) {
      throw new OnvifError(
        "the camera's lens does not focus continuously over ONVIF (it offers only set " +
          "positions): focus it from the camera's own web page",
      );
    }
    return { service, source, ...range, skew: soap.skew };
  }

  /**
   * The focus mode the camera is in now; null when it does not say (or refuses to: its focus
   * still moves).
   */
  async mode(place: FocusPlace): Promise<FocusMode | null> {
    try {
      return focusModeOf(
        await this.soap(place.skew).call(
          place.service,
          imagingSettingsBody(place.source),
          true,
        ),
      );
    } catch (e) {
      if (e instanceof OnvifError) return null;
      throw e;
    }
  }

  /**
   * Moves the focus at `v` (− nearer, + farther) for `ms`, then stops it — the stop is sent even
   * when whoever asked has gone, as soon as the move was taken.
   */
  async nudge(place: FocusPlace, v: number, ms = FOCUS_NUDGE_MS): Promise<void> {
    const soap = this.soap(place.skew);
    await soap.call(
      place.service,
      focusMoveBody(place.source, scaledSpeed(v, place.min, place.max)),
      true,
    );
    await new Promise((resolve) => setTimeout(resolve, ms));
    await soap.call(place.service, focusStopBody(place.source), true);
  }

  /** Sets the camera to focus by itself (kept by the camera). */
  async auto(place: FocusPlace): Promise<void> {
    await this.soap(place.skew).call(
      place.service,
      setFocusModeBody(place.source, "AUTO"),
      true,
    );
  }
}
