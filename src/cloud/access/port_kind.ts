/**
 * What a device port most likely speaks, from its number (RTSP, SSH, a plain TCP service, or HTTP):
 * the console's port pills and the snapshot endpoint (which looks for the camera's web port)
 * decide the same way.
 * @module
 */
import { isSshPort } from "./terminal/ssh_port.ts";

/** Ports that speak RTSP on cameras and NVRs. */
export const RTSP_PORTS = new Set([554, 8554, 10554]);
/** Well-known ports that are not web pages (SSH, Telnet, vendor SDKs, RDP, VNC, ONVIF events). */
const TCP_PORTS = new Set([21, 22, 23, 3389, 5900, 8000, 8200, 9000, 34567, 37777, 37778]);

/** The protocol a port most likely speaks, for its pill: RTSP, SSH, a plain TCP service, or HTTP. */
export function portKind(port: number): "http" | "rtsp" | "ssh" | "other" {
  if (RTSP_PORTS.has(port)) return "rtsp";
  if (isSshPort(port)) return "ssh";
  if (TCP_PORTS.has(port)) return "other";
  return "http";
}
