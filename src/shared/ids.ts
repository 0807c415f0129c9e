/**
 * Identifiers for stored records: a short type prefix and 96 random bits in base64url, so an id
 * says what it names in logs and cannot be guessed or enumerated.
 * @module
 */
import { encodeBase64Url } from "./encoding.ts";

/** Returns `${prefix}-` followed by 16 characters of base64url (96 random bits). */
export function newId(prefix: string): string {
  const bytes = crypto.getRandomValues(new Uint8Array(12));
  return `${prefix}-${encodeBase64Url(bytes)}`;
}
