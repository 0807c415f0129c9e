/**
 * A camera's relay outputs over ONVIF through its tunnel (`GetRelayOutputs`,
 * `SetRelayOutputState` on its device service): what is wired to a camera's alarm output — a
 * gate, a door strike, a siren, a light — is worked from its live view by the operator who is
 * looking at it, without the camera's own web page. A monostable output is triggered and goes
 * back by itself after its delay (a gate's pulse); a bistable one stays on or off as told. The
 * calls are signed with the cloud-held credentials and dated by the camera's clock, read once and
 * kept for a minute (onvif_places.ts).
 * @module
 */
import { escapeXml, xmlAttributes, xmlBlocks, xmlTexts } from "../../shared/xml_text.ts";
import { DEVICE_SERVICE, OnvifCamera } from "./onvif_soap.ts";

/** Most outputs listed. */
const MAX_RELAYS = 16;

/** One relay output as the camera lists it. */
export interface RelayOutput {
  token: string;
  /** `Monostable` (pulses for `delaySeconds`, then back) or `Bistable` (stays); null: unsaid. */
  mode: "Monostable" | "Bistable" | null;
  /** How long a monostable output stays active, in seconds; null when unsaid. */
  delaySeconds: number | null;
}

/** The state an output is told: `active` (on, or the pulse) or `inactive` (off). */
export type RelayState = "active" | "inactive";

/** Where a camera's device service answers from: only its clock skew (the path is fixed). */
export interface RelayPlace {
  skew: number;
}

/** Seconds in an xs:duration of hours, minutes and seconds (`PT5S`, `PT1M30S`, `PT0.5S`), or null. */
export function durationSeconds(text: string): number | null {
  const m = /^P(?:0D)?T(?:(\d{1,4})H)?(?:(\d{1,5})M)?(?:(\d{1,6}(?:\.\d{1,3})?)S)?$/.exec(
    text.trim(),
  );
  if (!m || (m[1] === undefined && m[2] === undefined && m[3] === undefined)) return null;
  return Number(m[1] ?? 0) * 3600 + Number(m[2] ?? 0) * 60 + Number(m[3] ?? 0);
}

/** The outputs in a GetRelayOutputs answer, in its order (one without a token is left out). */
export function relayOutputsOf(xml: string): RelayOutput[] {
  const tags = [...xml.matchAll(/<(?:[\w.-]{1,40}:)?RelayOutputs(\s[^<>]{0,1024}?)?(\/?)>/g)];
  const bodies = xmlBlocks(xml, "RelayOutputs", MAX_RELAYS);
  const out: RelayOutput[] = [];
  let body = 0;
  for (const [, attrs, empty] of tags.slice(0, MAX_RELAYS)) {
    const inner = empty ? "" : bodies[body++] ?? "";
    const token = xmlAttributes(`<R${attrs ?? ""}>`, "R", "token", 1, 64)[0];
    if (!token || !/^[\x21-\x7e]{1,64}$/.test(token)) continue;
    const mode = xmlTexts(inner, "Mode", 1, 16)[0];
    const delay = xmlTexts(inner, "DelayTime", 1, 32)[0];
    out.push({
      token,
      mode: mode === "Monostable" || mode === "Bistable" ? mode : null,
      delaySeconds: delay === undefined ? null : durationSeconds(delay),
    });
  }
  return out;
}

/** The body of a SetRelayOutputState of `token` to `state`. */
export function setRelayBody(token: string, state: RelayState): string {
  return `<tds:SetRelayOutputState><tds:RelayOutputToken>${escapeXml(token)}` +
    `</tds:RelayOutputToken><tds:LogicalState>${state}</tds:LogicalState>` +
    `</tds:SetRelayOutputState>`;
}

/** One camera's relay outputs over `http` (its web port). */
export class OnvifRelays extends OnvifCamera {
  /** Reads the camera's clock; OnvifError when the port has no ONVIF service. */
  async locate(): Promise<RelayPlace> {
    const soap = this.soap();
    await soap.syncClock();
    return { skew: soap.skew };
  }

  /** The camera's outputs. */
  async list(place: RelayPlace): Promise<RelayOutput[]> {
    return relayOutputsOf(
      await this.soap(place.skew).call(
        DEVICE_SERVICE,
        "<tds:GetRelayOutputs/>",
        true,
      ),
    );
  }

  /** Tells the output `token` to go `state`. */
  async set(place: RelayPlace, token: string, state: RelayState): Promise<void> {
    await this.soap(place.skew).call(
      DEVICE_SERVICE,
      setRelayBody(token, state),
      true,
    );
  }
}
