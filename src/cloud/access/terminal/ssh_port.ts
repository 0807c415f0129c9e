/**
 * Which device ports get a browser terminal. Decided by the port number alone (22) until device
 * ports carry an explicit protocol; this one function is what to switch then.
 * @module
 */

/** Whether a device port speaks SSH. */
export function isSshPort(port: number): boolean {
  return port === 22;
}
