/**
 * Roles in order of power, and the one check every API route uses.
 * @module
 */
import { AppError } from "../../shared/errors.ts";
import type { Role } from "../store/store.ts";

const RANK: Record<Role, number> = { viewer: 0, operator: 1, admin: 2, superadmin: 3 };

/** Throws 403 unless `role` is at least `min`. */
export function requireRole(role: Role, min: Role): void {
  if (RANK[role] < RANK[min]) {
    throw new AppError("forbidden", `this needs the ${min} role; you are ${role}`);
  }
}

/** Whether `role` is at least `min` (for showing or hiding actions; the API still checks). */
export function roleAtLeast(role: Role, min: Role): boolean {
  return RANK[role] >= RANK[min];
}
