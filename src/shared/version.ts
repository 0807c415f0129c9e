/**
 * The product version, shown by every role's `--version`, sent in Hello and printed in the UI.
 * @module
 */

/** Version of this build of Nanodems Connector. */
export const VERSION = "0.1.0";
