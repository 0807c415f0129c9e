/**
 * What a camera says it is over ONVIF (`GetDeviceInformation`): its maker, model and firmware
 * version. Asked with its stream path (onvif_media.ts) and kept on the device, so a fleet's
 * cameras are named by what they are and the ones on old firmware — the ones a vendor's advisory
 * is about — are found by searching a site's devices for the version.
 * @module
 */
import { xmlTexts } from "../../shared/xml_text.ts";

/** The body of the question, on the device service. */
export const DEVICE_INFORMATION_BODY = "<tds:GetDeviceInformation/>";

/** Longest text kept of each. */
const MAX_TEXT = 64;

/** What the camera says it is ("" where it says nothing). */
export interface DeviceIdentity {
  manufacturer: string;
  model: string;
  firmware: string;
}

/** One line of printable text, at most 64 characters ("" when there is none). */
function clean(text: string | undefined): string {
  // deno-lint-ignore no-control-regex
  const line = (text ?? "").replace(/[\u0000-\u001f\u007f]+/g, " ").replace(/\s+/g, " ").trim();
  return line.slice(0, MAX_TEXT).trim();
}

/** The identity in a GetDeviceInformation answer, or null when it names nothing. */
export function deviceIdentityOf(xml: string): DeviceIdentity | null {
  const identity = {
    manufacturer: clean(xmlTexts(xml, "Manufacturer", 1, 1024)[0]),
    model: clean(xmlTexts(xml, "Model", 1, 1024)[0]),
    firmware: clean(xmlTexts(xml, "FirmwareVersion", 1, 1024)[0]),
  };
  return identity.manufacturer || identity.model || identity.firmware ? identity : null;
}
