/**
 * WebKit, Safari's engine, as a second real browser (WebKitGTK through `webkit_page.py`, on a
 * virtual display from `xvfb-run`). Chromium is the tests' browser; WebKit is here for what only
 * it shows: it sends `Sec-Fetch-*` headers with a WebSocket handshake (Chromium sends none), and
 * it decodes H.265 (GStreamer's decoder behind its MSE), as Safari does.
 * @module
 */

const DRIVER = new URL("./webkit_page.py", import.meta.url).pathname;

/** What to open and when it counts as done. */
export interface WebkitVisit {
  /** The cloud's origin, e.g. `http://127.0.0.1:41234`. */
  origin: string;
  /** The session cookie (`name=value`, as `Stack.signIn` returns it), or null. */
  cookie: string | null;
  /** The page's path and query. */
  path: string;
  /** A JavaScript expression that is true once the page shows what the test waits for. */
  until: string;
  /** A JavaScript expression giving a JSON string: what the test reads off the page. */
  probe: string;
  /** How long `until` may take (seconds). */
  timeoutS: number;
}

/** The page's `probe` once `until` held (`ok`), or when the time ran out; and what it printed. */
export interface WebkitOutcome {
  ok: boolean;
  result: unknown;
  output: string;
}

/**
 * Opens the page in WebKitGTK signed in with the cookie (given on standard input, never on a
 * command line) and waits for `until`. A WebKit that hangs is killed 30 s past the timeout.
 */
export async function webkitVisit(visit: WebkitVisit): Promise<WebkitOutcome> {
  // A home of its own: WebKit's caches and local storage stay out of the user's.
  const home = await Deno.makeTempDir({ prefix: "nc-webkit-" });
  try {
    // A session of its own (setsid), so a hung WebKit goes with its display and web processes.
    const child = new Deno.Command("setsid", {
      args: ["xvfb-run", "-a", "/usr/bin/python3", DRIVER],
      env: { HOME: home, XDG_CACHE_HOME: `${home}/cache`, XDG_DATA_HOME: `${home}/data` },
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const writer = child.stdin.getWriter();
    await writer.write(new TextEncoder().encode(JSON.stringify(visit)));
    await writer.close();
    const kill = setTimeout(() => {
      try {
        Deno.kill(-child.pid, "SIGKILL");
      } catch { /* already gone */ }
    }, (visit.timeoutS + 30) * 1000);
    const out = await child.output();
    clearTimeout(kill);
    const output = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
    const line = output.split("\n").find((l) => /^(RESULT|TIMEOUT) /.test(l));
    if (!line) return { ok: false, result: null, output: `WebKit said nothing:\n${output}` };
    const [word, ...rest] = line.split(" ");
    return { ok: word === "RESULT" && out.code === 0, result: JSON.parse(rest.join(" ")), output };
  } finally {
    await Deno.remove(home, { recursive: true }).catch(() => {});
  }
}
