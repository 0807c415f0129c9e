/**
 * Turning a camera over ONVIF through its tunnel: pan, tilt and zoom from the live view, so an
 * operator can look at the gate the alarm was about without the camera's own web page or
 * the vendor's app. A move is `ContinuousMove` with a velocity and a short timeout — the camera
 * stops by itself when no newer move or `Stop` arrives (a browser closed mid-press, a lost
 * link) — and the live view repeats it while the button is held, then sends `Stop`. The camera's
 * presets (`GetPresets`: "Gate", "Car park") are listed and gone to (`GotoPreset`) by name, and
 * where it points now is saved as one (`SetPreset`, over the one of the same name) or one is
 * forgotten (`RemovePreset`).
 *
 * Where the camera's PTZ service is and which media profile it moves (the first whose profile
 * has a PTZ configuration) is asked once (`GetCapabilities`, `GetProfiles`, over onvif_soap.ts
 * with the cloud-held credentials) and kept with the camera's clock skew for a minute
 * (onvif_places.ts), so a held button costs one call per repeat, not four.
 * @module
 */
import { escapeXml, xmlAttributes, xmlBlocks, xmlTexts } from "../../shared/xml_text.ts";
import { MEDIA_SERVICE } from "./onvif_media.ts";
import { OnvifCamera, OnvifError } from "./onvif_soap.ts";

/** How long a move lasts on the camera without a newer one (the live view repeats each second). */
export const PTZ_MOVE_TIMEOUT_S = 2;

/** A velocity: pan (− left, + right), tilt (− down, + up), zoom (− out, + in), each in −1..1. */
export interface PtzVelocity {
  pan: number;
  tilt: number;
  zoom: number;
}

/** Where a camera's PTZ is: its service path, the profile it moves, the camera's clock skew. */
export interface PtzPlace {
  service: string;
  profile: string;
  skew: number;
}

/** A number as ONVIF's xs:float, clamped to −1..1 and rounded (no exponent, no `-0`). */
function speed(v: number): string {
  const x = Math.round(Math.max(-1, Math.min(1, v)) * 1000) / 1000;
  return String(x === 0 ? 0 : x);
}

/** The body of a ContinuousMove of `profile` at `v`, lasting at most `timeoutS` seconds. */
export function continuousMoveBody(profile: string, v: PtzVelocity, timeoutS: number): string {
  return `<tptz:ContinuousMove><tptz:ProfileToken>${escapeXml(profile)}</tptz:ProfileToken>` +
    `<tptz:Velocity><tt:PanTilt x="${speed(v.pan)}" y="${speed(v.tilt)}"/>` +
    `<tt:Zoom x="${speed(v.zoom)}"/></tptz:Velocity>` +
    `<tptz:Timeout>PT${Math.max(1, Math.round(timeoutS))}S</tptz:Timeout></tptz:ContinuousMove>`;
}

/** The body of a Stop of `profile`'s pan, tilt and zoom. */
export function stopBody(profile: string): string {
  return `<tptz:Stop><tptz:ProfileToken>${escapeXml(profile)}</tptz:ProfileToken>` +
    `<tptz:PanTilt>true</tptz:PanTilt><tptz:Zoom>true</tptz:Zoom></tptz:Stop>`;
}

/** Most presets listed (cameras keep up to 256; a list past this is cut). */
export const MAX_PRESETS = 256;

/** A position the camera keeps, by its token and the name it was given. */
export interface PtzPreset {
  token: string;
  name: string;
}

/** The body of a GetPresets of `profile`. */
export function getPresetsBody(profile: string): string {
  return `<tptz:GetPresets><tptz:ProfileToken>${escapeXml(profile)}</tptz:ProfileToken>` +
    `</tptz:GetPresets>`;
}

/** The body of a GotoPreset of `profile` to `preset` (the camera's own speed). */
export function gotoPresetBody(profile: string, preset: string): string {
  return `<tptz:GotoPreset><tptz:ProfileToken>${escapeXml(profile)}</tptz:ProfileToken>` +
    `<tptz:PresetToken>${escapeXml(preset)}</tptz:PresetToken></tptz:GotoPreset>`;
}

/**
 * The body of a SetPreset of `profile`: the camera keeps where it points now as `name`, under
 * `token` when given (that preset is overwritten), else under a new token it chooses.
 */
export function setPresetBody(profile: string, name: string, token?: string): string {
  return `<tptz:SetPreset><tptz:ProfileToken>${escapeXml(profile)}</tptz:ProfileToken>` +
    `<tptz:PresetName>${escapeXml(name)}</tptz:PresetName>` +
    (token === undefined ? "" : `<tptz:PresetToken>${escapeXml(token)}</tptz:PresetToken>`) +
    `</tptz:SetPreset>`;
}

/** The body of a RemovePreset of `profile`'s preset `token`. */
export function removePresetBody(profile: string, token: string): string {
  return `<tptz:RemovePreset><tptz:ProfileToken>${escapeXml(profile)}</tptz:ProfileToken>` +
    `<tptz:PresetToken>${escapeXml(token)}</tptz:PresetToken></tptz:RemovePreset>`;
}

/** A preset saved: its token and name, and whether it took the place of one of the same name. */
export interface SavedPreset extends PtzPreset {
  replaced: boolean;
}

/**
 * The presets in a GetPresets answer, in its order: each preset's token and name (its token when
 * it has none). A preset without a token cannot be gone to and is left out.
 */
export function presetsOf(xml: string): PtzPreset[] {
  const tags = [...xml.matchAll(/<(?:[\w.-]{1,40}:)?Preset(\s[^<>]{0,1024}?)?(\/?)>/g)];
  const bodies = xmlBlocks(xml, "Preset", MAX_PRESETS);
  const out: PtzPreset[] = [];
  let body = 0;
  for (const [, attrs, empty] of tags.slice(0, MAX_PRESETS)) {
    const inner = empty ? "" : bodies[body++] ?? "";
    const token = xmlAttributes(`<Preset${attrs ?? ""}>`, "Preset", "token", 1, 64)[0];
    if (!token) continue;
    out.push({ token, name: xmlTexts(inner, "Name", 1, 200)[0]?.trim() || token });
  }
  return out;
}

/** The token of the first profile in a GetProfiles answer that has a PTZ configuration. */
export function ptzProfile(profiles: string): string | null {
  const tokens = xmlAttributes(profiles, "Profiles", "token", 16);
  const bodies = xmlBlocks(profiles, "Profiles", 16);
  for (let i = 0; i < Math.min(tokens.length, bodies.length); i++) {
    if (/<(?:[\w.-]+:)?PTZConfiguration[\s>/]/.test(bodies[i])) return tokens[i];
  }
  return null;
}

/** One camera's PTZ over `http` (its web port). */
export class OnvifPtz extends OnvifCamera {
  /** Asks the camera where its PTZ is; OnvifError when it has none or refuses. */
  async locate(): Promise<PtzPlace> {
    const soap = this.soap();
    await soap.syncClock();
    const service = await soap.service("PTZ", "");
    if (!service) {
      throw new OnvifError("the camera has no PTZ service over ONVIF: it cannot pan, tilt or zoom");
    }
    const media = await soap.service("Media", MEDIA_SERVICE);
    const profile = ptzProfile(await soap.call(media, "<trt:GetProfiles/>", true));
    if (!profile) {
      throw new OnvifError(
        "the camera's media profiles have no PTZ configuration: it cannot pan, tilt or zoom",
      );
    }
    return { service, profile, skew: soap.skew };
  }

  /** Moves at `v` (for at most PTZ_MOVE_TIMEOUT_S unless told again). */
  async move(place: PtzPlace, v: PtzVelocity): Promise<void> {
    await this.soap(place.skew).call(
      place.service,
      continuousMoveBody(place.profile, v, PTZ_MOVE_TIMEOUT_S),
      true,
    );
  }

  /** The camera's presets. */
  async presets(place: PtzPlace): Promise<PtzPreset[]> {
    return presetsOf(
      await this.soap(place.skew).call(
        place.service,
        getPresetsBody(place.profile),
        true,
      ),
    );
  }

  /** Goes to the preset `token`. */
  async gotoPreset(place: PtzPlace, token: string): Promise<void> {
    await this.soap(place.skew).call(
      place.service,
      gotoPresetBody(place.profile, token),
      true,
    );
  }

  /**
   * Keeps where the camera points now as the preset `name`: the one of that name is overwritten
   * (operators re-aim "Gate" rather than collect "Gate", "Gate 2"…), else a new one is made.
   */
  async savePreset(place: PtzPlace, name: string): Promise<SavedPreset> {
    const same = (await this.presets(place)).find((p) => p.name === name);
    const answer = await this.soap(place.skew).call(
      place.service,
      setPresetBody(place.profile, name, same?.token),
      true,
    );
    const token = xmlTexts(answer, "PresetToken", 1, 64)[0]?.trim() || same?.token;
    if (!token) throw new OnvifError("the camera saved the preset but did not say its token");
    return { token, name, replaced: same !== undefined };
  }

  /** Forgets the preset `token`. */
  async removePreset(place: PtzPlace, token: string): Promise<void> {
    await this.soap(place.skew).call(
      place.service,
      removePresetBody(place.profile, token),
      true,
    );
  }

  /** Stops pan, tilt and zoom. */
  async stop(place: PtzPlace): Promise<void> {
    await this.soap(place.skew).call(
      place.service,
      stopBody(place.profile),
      true,
    );
  }
}
