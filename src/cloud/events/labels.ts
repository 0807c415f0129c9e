/**
 * Each event type in words, for the console (server-rendered rows and the rows the live feed
 * adds in the browser read the same table).
 * @module
 */
import type { EventType } from "../store/store.ts";

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
};
