/**
 * What the browser proxy reads of a request and writes of a response. Two servers meet it:
 * node:http's `IncomingMessage`/`ServerResponse` (connections node:http serves) and the cloud's
 * own HTTP/1.1 exchange on a Deno connection (`src/cloud/api/native_http1.ts`, the fast path for
 * `/c/{h}/` requests without a body). The proxy is written once, against these two shapes.
 * @module
 */
import type { IncomingHttpHeaders } from "node:http";

/** The request side: the members of node's `IncomingMessage` the proxy reads. */
export interface ProxyRequest {
  /** The method as sent. */
  method?: string;
  /** The raw request target (before any URL normalization). */
  url?: string;
  /** Header fields by lower-cased name; repeated ones joined as node:http joins them. */
  headers: IncomingHttpHeaders;
  /** Names (as sent) and values, alternating. */
  rawHeaders: string[];
  /** The peer: its address, and whether the connection is TLS. */
  socket: { remoteAddress?: string; encrypted?: boolean };
  /** Whether the connection is gone. */
  destroyed: boolean;
  /** Whether the client aborted the request (node's flag; logging only). */
  aborted?: boolean;
  /** The request body, chunk by chunk. */
  [Symbol.asyncIterator](): AsyncIterator<unknown>;
}

/** Header values as the proxy hands them to `writeHead`. */
export type HeaderValues = Record<string, string | number>;

/** The response side: the members of node's `ServerResponse` the proxy uses. */
export interface ProxyResponse {
  /** Whether the status line and headers are fixed (written or about to be). */
  readonly headersSent: boolean;
  /** Whether the whole response was handed to the connection. */
  readonly writableFinished: boolean;
  /**
   * Fixes the status, reason and fields given as pairs in order (a device's response head), when
   * the server can take them so; absent on node:http's response.
   */
  writeHeadPairs?(status: number, reason: string, pairs: [string, string][]): void;
  /** Sets one header before the head is written. */
  setHeader(name: string, value: string | number | string[]): unknown;
  /** Fixes the status (and reason) with more headers. */
  writeHead(status: number, reason?: string, headers?: HeaderValues): unknown;
  /** The same without a reason phrase. */
  writeHead(status: number, headers?: HeaderValues): unknown;
  /** Writes a body chunk; false asks the writer to wait for "drain". */
  write(chunk: Uint8Array): boolean;
  /** Ends the response, with a last chunk. */
  end(chunk?: Uint8Array | string): unknown;
  /** Sends the head now (a stream whose first chunk may take a while). */
  flushHeaders(): void;
  /** Drops the connection (a response that cannot be finished). */
  destroy(error?: Error): unknown;
  /** "drain": written chunks left the process; "close": the response or its connection ended. */
  on(event: "drain" | "close", listener: () => void): unknown;
  /** Removes a listener added with `on`. */
  off(event: "drain" | "close", listener: () => void): unknown;
}
