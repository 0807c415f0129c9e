/**
 * Each event type in words, for the console (server-rendered rows and the rows the live feed
 * adds in the browser read the same table).
 * @module
 */
import type { EventType } from "../store/store.ts";

/** What a camera reports itself (its motion alerts on). */
export const CAMERA_ALERTS: readonly EventType[] = [
  "camera.motion",
  "camera.tamper",
  "camera.input",
];

/** The Events page's filters: a name for some types together. */
export const EVENT_GROUPS: readonly { name: string; types: readonly EventType[] }[] = [
  { name: "Camera alerts", types: CAMERA_ALERTS },
  { name: "Agents", types: ["agent.offline", "agent.online", "agent.data_blocked"] },
  { name: "Devices", types: ["device.down", "device.up", "device.cert_changed"] },
  { name: "Access", types: ["enrollment.used", "credential.revoked"] },
];

/** Each event type in words. */
export const EVENT_LABELS: Record<EventType, string> = {
  "agent.offline": "Agent offline",
  "agent.online": "Agent back online",
  "agent.data_blocked": "Agent online, data channel blocked",
  "device.down": "Device port down",
  "device.up": "Device port up",
  "device.cert_changed": "Device certificate changed",
  "enrollment.used": "Enrollment token used",
  "credential.revoked": "Credential revoked",
  "camera.motion": "Motion detected",
  "camera.tamper": "Camera tampered with",
  "camera.input": "Camera alarm input",
};
