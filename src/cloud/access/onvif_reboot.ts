/**
 * Restarting a camera over ONVIF through its tunnel (`SystemReboot` on its device service): a
 * camera whose picture froze, whose web server hangs or whose recording stopped is restarted
 * from the console rather than by someone driving to the site to pull its cable. The camera
 * answers before it goes ("Rebooting in 30 seconds"); that answer is passed on, cut to a line.
 * The call is signed with the cloud-held credentials and dated by the camera's clock, which is
 * read once and kept for a minute (onvif_places.ts).
 * @module
 */
import { xmlTexts } from "../../shared/xml_text.ts";
import { DEVICE_SERVICE, OnvifCamera } from "./onvif_soap.ts";

/** Where a camera's device service answers from: only its clock skew (the path is fixed). */
export interface RebootPlace {
  skew: number;
}

/** Longest message of the camera's passed on. */
const MAX_MESSAGE = 200;

/**
 * What the camera said in a SystemReboot answer, on one line and at most 200 characters (its
 * control characters made spaces), or "" when it said nothing.
 */
export function rebootMessageOf(xml: string): string {
  const said = xmlTexts(xml, "Message", 1, 1024)[0] ?? "";
  // deno-lint-ignore no-control-regex
  const line = said.replace(/[\u0000-\u001f\u007f]+/g, " ").replace(/\s+/g, " ").trim();
  return line.length > MAX_MESSAGE ? `${line.slice(0, MAX_MESSAGE - 1)}…` : line;
}

/** One camera's restart over `http` (its web port). */
export class OnvifReboot extends OnvifCamera {
  /** Reads the camera's clock; OnvifError when the port has no ONVIF service. */
  async locate(): Promise<RebootPlace> {
    const soap = this.soap();
    await soap.syncClock();
    return { skew: soap.skew };
  }

  /** Tells the camera to restart; what it said. */
  async reboot(place: RebootPlace): Promise<string> {
    return rebootMessageOf(
      await this.soap(place.skew).call(
        DEVICE_SERVICE,
        "<tds:SystemReboot/>",
        true,
      ),
    );
  }
}
