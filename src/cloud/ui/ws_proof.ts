/**
 * How a cloud page proves itself on its own WebSockets (the live player, the thumbnails): the
 * page's antiforgery token, offered as the subprotocol `csrf.<token>` beside the one it speaks,
 * which a device page under `/c/` cannot learn (tenancy/upgrade_proof.ts says why it is asked).
 * @module
 */

/**
 * The page-side function `proofProtocols(name)`: `[name, "csrf.<token>"]` on a signed-in page,
 * `[]` where the page has no token; inlined into each script that opens a WebSocket.
 */
export const WS_PROOF_JS = `
function proofProtocols(name) {
  const t = document.querySelector('meta[name="csrf-token"]')?.content;
  return t ? [name, "csrf." + t] : [];
}
`;
