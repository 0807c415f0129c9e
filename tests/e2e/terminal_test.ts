/**
 * The browser terminal end to end: real cloud and agent processes, a real OpenSSH server (its
 * own host key, key-only auth) whose key the cloud holds, headless Chromium running xterm.js,
 * and a plain WebSocket client for the refusals and limits. Proves what an operator sees: a
 * shell that computes, resizes and round-trips UTF-8; no device secret ever reaching the
 * browser; a changed host key blocked until an admin accepts it; limits, idle timeout and
 * revocation closing sessions with a message; and the recording playing back the output.
 * @module
 */
import { assert, assertEquals, assertMatch, assertStringIncludes } from "../_fixtures/assert.ts";
// @ts-types="@types/ws"
import WebSocket from "ws";
import { type Quickstart, Stack } from "../_fixtures/stack.ts";
import { type Sshd, startSshd } from "../_fixtures/sshd.ts";
import { startMfaSshServer } from "../_fixtures/ssh_mfa_server.ts";
import { concatBytes } from "../_fixtures/bytes.ts";
import {
  ecdhReply,
  ed25519Blob,
  handSshServer,
  kexInit,
  SSH_MSG,
  sshPacket,
  sshString,
  writeAllTo,
} from "../_fixtures/hand_ssh_server.ts";
import { startTlsFront } from "../_fixtures/tls_front.ts";
import { startConnectProxy } from "../_fixtures/connect_proxy.ts";
import type { Browser, BrowserContext } from "playwright-core";
import {
  accessibilityViolations,
  closePage,
  launchBrowser,
  SCREENSHOTS,
} from "../_fixtures/browser.ts";
import { csrfTokenFor } from "../../src/cloud/tenancy/auth.ts";

/** What the terminal pages expose for tests: the xterm.js Terminal. */
type Page = {
  ncTerminal: {
    rows: number;
    cols: number;
    buffer: {
      active: {
        length: number;
        getLine(i: number): { translateToString(trim: boolean): string };
      };
    };
  };
};

const DEVICE_PASSWORD = `dev-pw-${crypto.randomUUID()}`;
/** sshd gives the shell a UTF-8 locale (readline would escape multibyte input under C). */
const SSHD_CONFIG = ["SetEnv LANG=C.UTF-8 LC_ALL=C.UTF-8"];

interface World {
  stack: Stack;
  sshd: Sshd;
  q: Quickstart;
  handle: string;
  /** Session cookie pair of an admin who signed in with a password. */
  cookie: string;
  /** Its antiforgery token (what the cloud's pages carry). */
  csrf: string;
  api(method: string, path: string, body?: unknown): Promise<Response>;
}

async function withWorld(fn: (w: World) => Promise<void>): Promise<void> {
  const sshd = await startSshd({ extraConfig: SSHD_CONFIG });
  const stack = await Stack.start();
  const w: World = {
    stack,
    sshd,
    q: undefined as unknown as Quickstart,
    handle: "",
    cookie: "",
    csrf: "",
    api: (method, path, body) =>
      fetch(`${stack.url}${path}`, {
        method,
        headers: {
          authorization: `Bearer ${w.q.apiToken}`,
          ...(body === undefined ? {} : { "content-type": "application/json" }),
        },
        body: body === undefined ? undefined : JSON.stringify(body),
      }),
  };
  try {
    w.q = await stack.quickstart([sshd.port]);
    w.handle = w.q.device.handles[sshd.port];
    await stack.agentFor(w.q);
    const admin = await stack.addUser(w.q.tenantId, "admin");
    w.cookie = await stack.signIn(admin.email, admin.password);
    w.csrf = await csrfTokenFor(w.cookie.split("=")[1]);
    await holdKey(w, sshd);
    await fn(w);
  } finally {
    await stack.stop();
    await w.sshd.stop();
  }
}

/** The cloud holds the device's key (and a password sshd will never be asked for). */
async function holdKey(w: World, sshd: Sshd): Promise<void> {
  const res = await w.api(
    "PUT",
    `/api/sites/${w.q.siteId}/devices/${w.q.device.deviceId}/credentials`,
    {
      username: sshd.user,
      password: DEVICE_PASSWORD,
      privateKey: await Deno.readTextFile(sshd.identity),
    },
  );
  assertEquals(res.status, 200, await res.text());
}

/** A terminal over a plain WebSocket client, as the page would speak it. */
class TermClient {
  readonly ws: WebSocket;
  readonly messages: { type: string; message: string; error?: string | null }[] = [];
  output = "";
  closed: Promise<{ code: number; reason: string }>;
  #waiters: (() => void)[] = [];

  /** Opens the terminal as the page does (cookie, Origin, the page's antiforgery token). */
  constructor(
    w: World,
    opts: { cookie?: string; origin?: string | null; csrf?: string | null } = {},
  ) {
    const cookie = opts.cookie ?? w.cookie;
    const headers: Record<string, string> = { cookie };
    if (opts.origin !== null) headers.origin = opts.origin ?? w.stack.url;
    const protocols = ["nc-terminal"];
    if (opts.csrf !== null) protocols.push(`csrf.${opts.csrf ?? w.csrf}`);
    this.ws = new WebSocket(
      `ws://127.0.0.1:${w.stack.ports.http}/api/terminal/${w.handle}`,
      protocols,
      { headers, perMessageDeflate: false },
    );
    this.ws.on("open", () => this.send({ type: "hello", cols: 100, rows: 30 }));
    this.ws.on("error", () => {});
    this.ws.on("message", (data: Uint8Array, binary: boolean) => {
      if (binary) this.output += new TextDecoder().decode(data);
      else this.messages.push(JSON.parse(new TextDecoder().decode(data)));
      for (const f of this.#waiters.splice(0)) f();
    });
    this.closed = new Promise((resolve) => {
      this.ws.on("close", (code: number, reason: Uint8Array) => {
        resolve({ code, reason: new TextDecoder().decode(reason) });
        for (const f of this.#waiters.splice(0)) f();
      });
    });
  }

  send(m: unknown): void {
    this.ws.send(JSON.stringify(m));
  }

  /** Waits until `pred` holds (checked on every message), failing after `ms`. */
  async until(what: string, pred: () => boolean, ms = 60_000): Promise<void> {
    const deadline = Date.now() + ms;
    while (!pred()) {
      if (Date.now() > deadline) {
        throw new Error(
          `timed out waiting for ${what}; messages ${JSON.stringify(this.messages)}; ` +
            `output ${JSON.stringify(this.output.slice(-300))}`,
        );
      }
      await new Promise<void>((r) => {
        this.#waiters.push(r);
        setTimeout(r, 200);
      });
    }
  }

  message(type: string): { type: string; message: string; error?: string | null } | undefined {
    return this.messages.find((m) => m.type === type);
  }

  connected(): Promise<void> {
    return this.until(
      "connected",
      () => this.messages.some((m) => m.type === "status" && m.message.startsWith("connected")),
    );
  }

  ended(): Promise<void> {
    return this.until("end", () => this.message("end") !== undefined);
  }
}

async function audit(w: World, action: string) {
  const res = await w.api("GET", `/api/audit?action=${action}`);
  return (await res.json()).items as { action: string; detail: Record<string, unknown> }[];
}

/** A browser context signed in as the world's admin. */
async function signedIn(
  w: World,
  browser: Browser,
  viewport?: { width: number; height: number },
): Promise<BrowserContext> {
  const context = await browser.newContext(viewport ? { viewport } : {});
  context.setDefaultTimeout(60_000); // a loaded 2-core machine is slow, not broken
  const [name, value] = w.cookie.split("=");
  await context.addCookies([{ name, value, url: w.stack.url }]);
  return context;
}

/** The audit entries of `action` once there are `n` (a session is recorded as it ends). */
async function auditCount(w: World, action: string, n: number) {
  const deadline = Date.now() + 60_000;
  for (;;) {
    const entries = await audit(w, action);
    if (entries.length >= n) return entries;
    assert(Date.now() < deadline, `${entries.length} of ${n} ${action} audit entries`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

Deno.test("browser terminal: Chromium runs a shell on a real sshd with held credentials; no secret reaches the browser; the recording plays back", async () => {
  await withWorld(async (w) => {
    const browser = await launchBrowser();
    try {
      const context = await signedIn(w, browser, { width: 1100, height: 800 });
      const page = await context.newPage();
      // Everything the browser receives: every response body and every WebSocket frame.
      const received: string[] = [];
      page.on("response", async (r) => {
        try {
          received.push(new TextDecoder().decode(await r.body()));
        } catch { /* redirects and aborted responses have no body */ }
      });
      page.on("websocket", (ws) => {
        ws.on("framereceived", (f) => received.push(String(f.payload)));
        ws.on("framesent", (f) => received.push(String(f.payload)));
      });
      await page.goto(`${w.stack.url}/terminal/${w.handle}`);
      await page.locator("#term-status", { hasText: "connected" }).waitFor({ timeout: 60_000 });
      const lines = () =>
        page.evaluate(() => {
          const t = (globalThis as unknown as Page).ncTerminal;
          const b = t.buffer.active;
          const out: string[] = [];
          for (let i = 0; i < b.length; i++) out.push(b.getLine(i).translateToString(true));
          return out;
        });
      const waitLine = async (pred: (l: string) => boolean, what: string) => {
        const deadline = Date.now() + 60_000;
        for (;;) {
          const ls = await lines();
          const hit = ls.find(pred);
          if (hit !== undefined) return hit;
          if (Date.now() > deadline) throw new Error(`no line ${what} in:\n${ls.join("\n")}`);
          await new Promise((r) => setTimeout(r, 100));
        }
      };
      assertEquals(await accessibilityViolations(page), [], "accessibility of the terminal page");
      await page.locator(".term-box").click();
      await page.keyboard.type("echo $((6*7))");
      await page.keyboard.press("Enter");
      await waitLine((l) => l.trim() === "42", "42");

      // Resizing the window reaches the device's PTY.
      const sizeOf = () =>
        page.evaluate(
          () => [
            (globalThis as unknown as Page).ncTerminal.rows,
            (globalThis as unknown as Page).ncTerminal.cols,
          ],
        );
      const [rows1, cols1] = await sizeOf();
      await page.setViewportSize({ width: 700, height: 520 });
      await page.waitForFunction(
        (c) => (globalThis as unknown as Page).ncTerminal.cols !== c,
        cols1,
      );
      const [rows2, cols2] = await sizeOf();
      assert(cols2 < cols1 && rows2 < rows1, `smaller after resize: ${rows2}x${cols2}`);
      await page.keyboard.type("stty size");
      await page.keyboard.press("Enter");
      await waitLine((l) => l.trim() === `${rows2} ${cols2}`, `stty size ${rows2} ${cols2}`);

      // UTF-8 typed in the browser comes back from the device intact.
      const text = "héllo-世界-✓";
      await page.keyboard.type(`echo "[${text}]"`);
      await page.keyboard.press("Enter");
      await waitLine((l) => l.trim() === `[${text}]`, `[${text}]`);
      // Paste: a line longer than one input message (64 KiB) pasted at once arrives whole.
      const long = "x".repeat(70_000);
      // (A string, because the test's own type library has no DOM.)
      await page.evaluate(`(() => {
        const dt = new DataTransfer();
        dt.setData("text/plain", ${JSON.stringify(`echo ${long} | wc -c`)});
        document.querySelector(".term-box textarea").dispatchEvent(
          new ClipboardEvent("paste", { clipboardData: dt, bubbles: true, cancelable: true }));
      })()`);
      await page.keyboard.press("Enter");
      await waitLine((l) => l.trim() === "70001", "70001 from wc -c");
      await page.screenshot({ path: `${SCREENSHOTS}/terminal.png` });

      // Leaving the page ends the session; its recording is stored and audited.
      await closePage(page);
      const recordingId = String(
        (await auditCount(w, "terminal.session", 1))[0].detail.recordingId,
      );
      assertEquals((await audit(w, "device.hostkey.first_seen")).length, 1);
      const opened = await audit(w, "terminal.open");
      assertEquals([opened[0].detail.credentials, opened[0].detail.username], [
        "held",
        w.sshd.user,
      ]);
      const used = await audit(w, "device.credentials.use");
      assertEquals(used[0]?.detail.via, "terminal");
      const cast = await (await w.api("GET", `/api/recordings/${recordingId}`)).text();
      const header = JSON.parse(cast.split("\n")[0]);
      assertEquals(header.version, 2);
      assert(cast.includes("42"), "the recording holds the output");

      // The recordings page lists it (with the tenant's policy for admins); the player replays it.
      const list = await context.newPage();
      await list.goto(`${w.stack.url}/recordings`);
      await list.locator(`a[href="/recordings/${recordingId}"]`).waitFor();
      await list.screenshot({ path: `${SCREENSHOTS}/terminal-recordings.png`, fullPage: true });
      assertEquals(await accessibilityViolations(list), [], "accessibility of /recordings");
      // The session's audit entry links its recording.
      await list.goto(`${w.stack.url}/audit?action=terminal.session`);
      await list.locator(`a[href="/recordings/${recordingId}"]`, { hasText: "Play recording" })
        .waitFor();
      await list.goto(`${w.stack.url}/recordings`);
      // An admin changes the tenant's terminal policy there.
      await list.click("text=Terminal policy of this tenant");
      await list.fill("#tp-maxPerDevice", "2");
      // The page reloads after saving: wait for the reloaded page (closing a page while its
      // reload commits can hang Chromium's close), then check what the API answers.
      await Promise.all([list.waitForEvent("load"), list.click("text=Save policy")]);
      const saved = Date.now() + 30_000;
      for (;;) {
        const policy = await (await w.api("GET", "/api/terminal/policy")).json();
        if (policy.maxPerDevice === 2) {
          assertEquals(policy.maxPerUser, 5);
          break;
        }
        assert(Date.now() < saved, `policy not saved: ${JSON.stringify(policy)}`);
        await new Promise((r) => setTimeout(r, 200));
      }
      await closePage(list);
      const player = await context.newPage();
      player.on("response", async (r) => {
        try {
          received.push(new TextDecoder().decode(await r.body()));
        } catch { /* no body */ }
      });
      await player.goto(`${w.stack.url}/recordings/${recordingId}?speed=100`);
      await player.waitForSelector("[data-recording][data-done]", { timeout: 60_000 });
      const replayed = await player.evaluate(() => {
        const b = (globalThis as unknown as Page).ncTerminal.buffer.active;
        const out: string[] = [];
        for (let i = 0; i < b.length; i++) out.push(b.getLine(i).translateToString(true));
        return out;
      });
      assert(replayed.some((l) => l.trim() === "42"), `42 replayed in:\n${replayed.join("\n")}`);
      await player.screenshot({ path: `${SCREENSHOTS}/terminal-recording.png` });

      // Nothing the browser received carries the device's password or key.
      const key = await Deno.readTextFile(w.sshd.identity);
      const keyBody = key.split("\n").filter((l) => l && !l.startsWith("-----")).join("");
      const keyChunks = [keyBody.slice(0, 40), keyBody.slice(40, 80), keyBody.slice(-40)];
      assert(received.length > 5, "responses and frames were captured");
      for (const r of received) {
        assert(!r.includes(DEVICE_PASSWORD), "the device password reached the browser");
        for (const c of keyChunks) assert(!r.includes(c), "the device key reached the browser");
      }
    } finally {
      await browser.close();
    }
  });
});

Deno.test("browser terminal: a host key the device cannot sign with is never pinned nor offered; the real device's key then is pinned, as a first key", async () => {
  await withWorld(async (w) => {
    // Something else answers at the device's port: it offers an Ed25519 key and signs the key
    // exchange with garbage, having no private key (a spoofer on the LAN, a broken device).
    const port = w.sshd.port;
    const random = (n: number) => crypto.getRandomValues(new Uint8Array(n));
    const spoof = async () => {
      await w.sshd.stop();
      const spoofer = handSshServer("127.0.0.1", async (conn, reader) => {
        await writeAllTo(conn, new TextEncoder().encode("SSH-2.0-Spoofer\r\n"));
        if ((await reader.line()) === null || !(await reader.packet())) return;
        await writeAllTo(conn, sshPacket(kexInit()));
        const init = await reader.packet();
        if (init?.[0] !== SSH_MSG.KEX_ECDH_INIT) return;
        const sig = concatBytes(sshString("ssh-ed25519"), sshString(random(64)));
        await writeAllTo(conn, sshPacket(ecdhReply(ed25519Blob(random(32)), random(32), sig)));
        await writeAllTo(conn, sshPacket(new Uint8Array([SSH_MSG.NEWKEYS])));
        await reader.packet(); // until the client gives up
      }, port);
      const spoofed = new TermClient(w);
      await spoofed.ended();
      await spoofer.close();
      w.sshd = await startSshd({ port, extraConfig: SSHD_CONFIG });
      await holdKey(w, w.sshd);
      return spoofed;
    };
    const spoofed = await spoof();
    assert(spoofed.message("end")!.error, JSON.stringify(spoofed.messages));
    const keyPath = `/api/devices/${w.q.device.deviceId}/ports/${port}/host-key`;
    assertEquals((await (await w.api("GET", keyPath)).json()).pinned, null, "an unproven key");
    assertEquals((await audit(w, "device.hostkey.first_seen")).length, 0);

    // The real device comes back: its key is the first one proven, pinned without a warning.
    const real = new TermClient(w);
    await real.connected();
    real.ws.close();
    await real.closed;
    const pinned = (await (await w.api("GET", keyPath)).json()).pinned.fingerprint;
    assertMatch(pinned, /^SHA256:/);
    assertEquals((await audit(w, "device.hostkey.first_seen")).length, 1);
    assertEquals((await audit(w, "device.hostkey.changed")).length, 0);

    // The spoofer again, now that a key is pinned: its key is refused, and not offered to the
    // admins as the device's new key (an offer is recorded only once the device proved it holds
    // the key; before, any key blob was, and an admin could accept a key nobody holds).
    const again = await spoof();
    assert(again.message("end")!.error, JSON.stringify(again.messages));
    const state = await (await w.api("GET", keyPath)).json();
    assertEquals([state.pinned.fingerprint, state.offered], [pinned, null]);
    assertEquals((await audit(w, "device.hostkey.changed")).length, 0);
  });
});

Deno.test("browser terminal: a changed host key blocks with a warning until an admin accepts it; both audited", async () => {
  await withWorld(async (w) => {
    const first = new TermClient(w);
    await first.connected();
    first.ws.close();
    await first.closed;
    // The device is "reinstalled": same address, new host key (and a new key for the login).
    const port = w.sshd.port;
    await w.sshd.stop();
    w.sshd = await startSshd({ port, extraConfig: SSHD_CONFIG });
    await holdKey(w, w.sshd);
    const blocked = new TermClient(w);
    await blocked.ended();
    assertMatch(blocked.message("end")!.message, /WARNING: the device's SSH host key has changed/);
    assertEquals(blocked.message("end")!.error, "host_key_changed");
    assertEquals((await blocked.closed).code, 1008);
    const changed = await audit(w, "device.hostkey.changed");
    assertEquals(changed.length, 1);

    const keyPath = `/api/devices/${w.q.device.deviceId}/ports/${port}/host-key`;
    const state = await (await w.api("GET", keyPath)).json();
    assertEquals(state.offered.fingerprint, changed[0].detail.offered);
    assertMatch(state.pinned.fingerprint, /^SHA256:/);
    // The site page shows the warning; the admin accepts the new key there.
    const browser = await launchBrowser();
    try {
      const page = await (await signedIn(w, browser)).newPage();
      page.on("dialog", (d) => d.accept());
      await page.goto(`${w.stack.url}/sites/${w.q.siteId}`);
      const row = page.locator(`tr[data-device="${w.q.device.deviceId}"]`);
      await row.getByText("now presents a different host key").waitFor();
      await row.getByText(state.offered.fingerprint).waitFor();
      await page.screenshot({
        path: `${SCREENSHOTS}/terminal-host-key-changed.png`,
        fullPage: true,
      });
      await row.getByRole("button", { name: "Accept the new key" }).click();
      // The console asks in its own dialog, naming the key.
      await page.waitForSelector("#confirm-dialog[open]");
      assertStringIncludes(
        await page.textContent("#confirm-text") ?? "",
        state.offered.fingerprint,
      );
      await page.click("#confirm-dialog >> text=Confirm");
      await page.waitForLoadState("load");
      await row.getByText(`${port}: ssh-ed25519 ${state.offered.fingerprint}`).waitFor();
      assertEquals(await row.getByText("now presents a different host key").count(), 0);

      // A device's port 22 gets the "SSH Terminal" pill, which opens the terminal page.
      const added = await w.api("POST", `/api/sites/${w.q.siteId}/devices`, {
        host: "192.0.2.22",
        ports: [22],
      });
      const addedText = await added.text();
      assert(added.status < 300, addedText);
      const router = JSON.parse(addedText);
      await page.goto(`${w.stack.url}/sites/${w.q.siteId}`);
      const pill = page.locator(`tr[data-device="${router.id}"] a.pill.ssh`);
      assertEquals(await pill.textContent(), "22 SSH Terminal");
      assertEquals(await pill.getAttribute("href"), `/terminal/${router.handles["22"]}`);
    } finally {
      await browser.close();
    }
    const after = await (await w.api("GET", keyPath)).json();
    assertEquals([after.pinned.fingerprint, after.offered], [state.offered.fingerprint, null]);
    assertEquals((await audit(w, "device.hostkey.accept")).length, 1);
    // Nothing more to accept.
    assertEquals((await w.api("POST", `${keyPath}/accept`, {})).status, 409);

    const again = new TermClient(w);
    await again.connected();
    again.send({ type: "input", data: "echo ok-$((40+2)) colours-$(tput colors)\n" });
    await again.until("ok-42", () => /ok-42 colours-256/.test(again.output));
    again.ws.close();
  });
});

Deno.test("browser terminal: limits per device and per user, revocation within 2 s, idle timeout with a warning, maximum length", async () => {
  await withWorld(async (w) => {
    const put = async (body: unknown) => {
      const res = await w.api("PUT", "/api/terminal/policy", body);
      assertEquals(res.status, 200, await res.text());
    };
    // Bad input is a 400 with {error, message}.
    const bad = await w.api("PUT", "/api/terminal/policy", { maxPerDevice: 0 });
    assertEquals(bad.status, 400);
    assertEquals((await bad.json()).error, "bad_request");

    await put({ maxPerDevice: 1 });
    const one = new TermClient(w);
    await one.connected();
    const two = new TermClient(w);
    await two.ended();
    assertEquals(
      two.message("end")!.message,
      "terminal session limit reached: at most 1 concurrent sessions per device",
    );
    const refusals = await auditCount(w, "terminal.refused", 1);
    assertEquals(refusals[0].detail.reason, "terminal_limit");
    await put({ maxPerDevice: 3, maxPerUser: 1 });
    const three = new TermClient(w);
    await three.ended();
    assertEquals(
      three.message("end")!.message,
      "terminal session limit reached: at most 1 concurrent sessions per user",
    );

    // Revoking the operator's session (signing out) closes the terminal within 2 s.
    const out = await fetch(`${w.stack.url}/api/auth/logout`, {
      method: "POST",
      headers: { cookie: w.cookie, "x-csrf-token": w.csrf, origin: w.stack.url },
    });
    const t0 = Date.now(); // signed out once the answer is back
    assertEquals(out.status, 200, await out.text());
    assertEquals(await one.closed, { code: 1008, reason: "credentials revoked" });
    assert(Date.now() - t0 < 2_000, `closed ${Date.now() - t0} ms after sign-out`);

    // Idle timeout: warned first, then closed with a message.
    const admin = await w.stack.addUser(w.q.tenantId, "admin");
    w.cookie = await w.stack.signIn(admin.email, admin.password);
    w.csrf = await csrfTokenFor(w.cookie.split("=")[1]);
    await put({ maxPerUser: 5, idleTimeoutSeconds: 2 });
    const idle = new TermClient(w);
    await idle.connected();
    await idle.ended();
    assertMatch(idle.message("warning")!.message, /closes in 1 s unless you type/);
    assertEquals(idle.message("end")!.message, "idle timeout: closed after 2 s without input");

    // The maximum length closes a session even while the operator types.
    await put({ idleTimeoutSeconds: 60, maxSessionSeconds: 2 });
    const long = new TermClient(w);
    await long.connected();
    const typing = setInterval(() => long.send({ type: "input", data: " " }), 300);
    try {
      await long.ended();
    } finally {
      clearInterval(typing);
    }
    assertEquals(long.message("end")!.message, "maximum session length reached (2 s)");
  });
});

Deno.test("browser terminal: refusals before the upgrade; without held credentials the page asks for a login", async () => {
  await withWorld(async (w) => {
    const refused = (opts: { cookie?: string; origin?: string | null; csrf?: string | null }) =>
      new Promise<number>((resolve) => {
        const c = new TermClient(w, opts);
        c.ws.on("unexpected-response", (_req, res) => resolve(res.statusCode ?? 0));
        c.ws.on("open", () => resolve(101));
        c.ws.on("error", () => {});
      });
    assertEquals(await refused({ origin: "http://evil.example" }), 403);
    assertEquals(await refused({ origin: null }), 403);
    // A same-origin page that cannot read the cloud's pages (a device page under /c/) lacks the
    // antiforgery token.
    assertEquals(await refused({ csrf: null }), 400);
    assertEquals(await refused({ csrf: "guessed" }), 400);
    assertEquals(await refused({ cookie: "nc_session=forged" }), 401);
    // A viewer may look at the device, not log in to it.
    const viewer = await w.stack.addUser(w.q.tenantId, "viewer");
    const viewerCookie = await w.stack.signIn(viewer.email, viewer.password);
    const viewerCsrf = await csrfTokenFor(viewerCookie.split("=")[1]);
    assertEquals(await refused({ cookie: viewerCookie, csrf: viewerCsrf }), 403);
    // Their page says so instead of a terminal that only reads "disconnected".
    const page = await fetch(`${w.stack.url}/terminal/${w.handle}`, {
      headers: { cookie: viewerCookie },
    });
    const html = await page.text();
    assertEquals(page.status, 200);
    assertStringIncludes(html, "Opening a terminal needs the operator role; you are a viewer.");
    assert(!html.includes("data-terminal"), "no terminal on a viewer's page");
    // The site page does not send a viewer there: its SSH pill opens nothing and says why.
    const asSsh = await w.api("PATCH", `/api/devices/${w.q.device.deviceId}`, {
      protocols: { [w.sshd.port]: "ssh" },
    });
    assert(asSsh.status < 300, await asSsh.text());
    const sitePage = async (cookie: string) =>
      await (await fetch(`${w.stack.url}/sites/${w.q.siteId}`, { headers: { cookie } })).text();
    const viewerSite = await sitePage(viewerCookie);
    assert(!viewerSite.includes(`/terminal/${w.handle}`), "no terminal link for a viewer");
    assertStringIncludes(viewerSite, `${w.sshd.port} SSH</span>`);
    assertStringIncludes(viewerSite, "Opening a terminal needs the operator role");
    assertStringIncludes(await sitePage(w.cookie), `href="/terminal/${w.handle}"`);

    const del = await w.api(
      "DELETE",
      `/api/sites/${w.q.siteId}/devices/${w.q.device.deviceId}/credentials`,
    );
    assertEquals(del.status, 200);
    const c = new TermClient(w);
    await c.until("login prompt", () => c.message("login") !== undefined);
    assertMatch(c.message("login")!.message, /holds no credentials/);
    // sshd takes keys only: a typed password is refused, and the page asks again.
    c.send({ type: "login", username: w.sshd.user, password: "wrong" });
    await c.until(
      "second prompt",
      () => c.messages.filter((m) => m.type === "login").length === 2,
    );
    assertMatch(c.messages.filter((m) => m.type === "login")[1].message, /refused the login/);
    // Leaving at the prompt gives the slot back: with one session per device, the next one is
    // asked to log in rather than refused.
    const one = await w.api("PUT", "/api/terminal/policy", { maxPerDevice: 1 });
    assertEquals(one.status, 200);
    c.ws.close();
    await c.closed;
    // (The cloud sees the close a moment after the client does: retry a refusal briefly.)
    const deadline = Date.now() + 30_000;
    for (;;) {
      const next = new TermClient(w);
      await next.until("login or end", () => !!(next.message("login") ?? next.message("end")));
      const asked = next.message("login") !== undefined;
      next.ws.close();
      await next.closed;
      if (asked) break;
      assert(Date.now() < deadline, `still refused: ${next.message("end")?.message}`);
      await new Promise((r) => setTimeout(r, 200));
    }

    // The page shows the login form when asked, and forgets the password once sent.
    const browser = await launchBrowser();
    try {
      const page = await (await signedIn(w, browser)).newPage();
      await page.goto(`${w.stack.url}/terminal/${w.handle}`);
      await page.locator("#term-login").waitFor({ state: "visible", timeout: 60_000 });
      assertEquals(await accessibilityViolations(page), [], "accessibility of the login form");
      await page.fill("#term-user", w.sshd.user);
      await page.fill("#term-pass", "still-wrong");
      await page.click("#term-login >> text=Log in");
      assertEquals(await page.inputValue("#term-pass"), "");
      await page.locator("#term-status", { hasText: "refused the login" }).waitFor();
      await page.screenshot({ path: `${SCREENSHOTS}/terminal-login.png` });
    } finally {
      await browser.close();
    }
  });
});

/** Runs `connector tunnel ssh …` (token in NC_TOKEN) with `input` on its stdin (not a terminal). */
async function tunnelSsh(
  w: World,
  args: string[],
  token: string,
  input: string,
  cloud = w.stack.url,
  env: Record<string, string> = {},
) {
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      new URL("../../src/main.ts", import.meta.url).pathname,
      "tunnel",
      "ssh",
      ...args,
      "--cloud",
      cloud,
    ],
    env: { NO_COLOR: "1", NC_TOKEN: token, ...env },
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const writer = child.stdin.getWriter();
  await writer.write(new TextEncoder().encode(input));
  await writer.close();
  const out = await child.output();
  return {
    code: out.code,
    stdout: new TextDecoder().decode(out.stdout),
    stderr: new TextDecoder().decode(out.stderr),
  };
}

Deno.test("nanodems-tunnel ssh: the same credential-injected session from a terminal, by handle or by a CLI session's loopback address", async () => {
  await withWorld(async (w) => {
    const byHandle = await tunnelSsh(
      w,
      [w.handle],
      w.q.apiToken,
      "echo cli-$((6*7))\nexit\n",
    );
    assertEquals(byHandle.code, 0, byHandle.stderr);
    assertMatch(byHandle.stdout, /^cli-42\r?$/m);
    assertMatch(byHandle.stderr, /\[the shell ended\]/);
    const ops = await w.stack.cliSession(w.q);
    const byAddress = await tunnelSsh(
      w,
      [`${w.q.device.loopbackIp}:${w.sshd.port}`],
      ops.token,
      "echo ops-$((6*7))\nexit\n",
    );
    assertEquals(byAddress.code, 0, byAddress.stderr);
    assertMatch(byAddress.stdout, /^ops-42\r?$/m);
    // Both sessions were recorded and audited like the browser's.
    const sessions = await auditCount(w, "terminal.session", 2);
    assertEquals(sessions.length, 2);
    // An operator sees only their own recordings; an admin sees the tenant's.
    const operator = await w.stack.addUser(w.q.tenantId, "operator");
    const opCookie = await w.stack.signIn(operator.email, operator.password);
    const asOperator = (path: string) =>
      fetch(`${w.stack.url}${path}`, { headers: { cookie: opCookie } });
    assertEquals((await (await asOperator("/api/recordings")).json()).recordings, []);
    const someone = String(sessions[0].detail.recordingId);
    const hidden = await asOperator(`/api/recordings/${someone}`);
    assertEquals(hidden.status, 404);
    await hidden.body?.cancel();
    const all = await (await w.api("GET", "/api/recordings")).json();
    assertEquals(all.recordings.length, 2);
    const refused = await tunnelSsh(w, [w.handle], `nt_${"x".repeat(43)}`, "");
    assertEquals(refused.code, 3);
    assertMatch(refused.stderr, /401 authentication required/);
  });
});

Deno.test("nanodems-tunnel ssh behind a TLS-inspecting proxy: the unknown authority named; with --ca-file the session runs, also through an HTTP proxy", async () => {
  await withWorld(async (w) => {
    const front = await startTlsFront(w.stack.ports.http);
    const proxy = startConnectProxy();
    try {
      const refused = await tunnelSsh(w, [w.handle], w.q.apiToken, "", front.url);
      assertEquals(refused.code, 1, refused.stderr);
      assertStringIncludes(refused.stderr, `cannot reach the cloud at ${front.url}`);
      assertStringIncludes(refused.stderr, "not from an authority this computer trusts");
      const caFile = `${w.stack.dir}/company-ca.pem`;
      await Deno.writeTextFile(caFile, front.caPem);
      const ok = await tunnelSsh(
        w,
        [w.handle, "--ca-file", caFile],
        w.q.apiToken,
        "echo tls-$((6*7))\nexit\n",
        front.url,
      );
      assertEquals(ok.code, 0, ok.stderr);
      assertMatch(ok.stdout, /^tls-42\r?$/m);
      // And through a company's HTTP proxy (HTTPS_PROXY), as the tunnels go.
      const viaProxy = await tunnelSsh(
        w,
        [w.handle, "--ca-file", caFile],
        w.q.apiToken,
        "echo proxy-$((6*7))\nexit\n",
        front.url,
        { HTTPS_PROXY: proxy.url },
      );
      assertEquals(viaProxy.code, 0, viaProxy.stderr);
      assertMatch(viaProxy.stdout, /^proxy-42\r?$/m);
      assertEquals(proxy.carried, [`127.0.0.1:${front.port}`]);
    } finally {
      await front.close();
      await proxy.close();
    }
  });
});

Deno.test("browser terminal: a device with a second factor (keyboard-interactive) asks the operator in the page", async () => {
  const mfa = await startMfaSshServer({ user: "op", password: "pw-1", code: "424242" });
  const stack = await Stack.start();
  const browser = await launchBrowser();
  try {
    const q = await stack.quickstart([mfa.port]);
    await stack.agentFor(q);
    const admin = await stack.addUser(q.tenantId, "admin");
    const cookie = await stack.signIn(admin.email, admin.password);
    const context = await browser.newContext();
    context.setDefaultTimeout(60_000);
    const [name, value] = cookie.split("=");
    await context.addCookies([{ name, value, url: stack.url }]);
    const page = await context.newPage();
    await page.goto(`${stack.url}/terminal/${q.device.handles[mfa.port]}`);
    await page.locator("#term-login").waitFor({ state: "visible", timeout: 60_000 });
    await page.fill("#term-user", "op");
    await page.fill("#term-pass", "pw-1");
    await page.click("#term-login >> text=Log in");
    // The password answers the first round; the code is asked in the page.
    await page.locator("#term-prompt").waitFor({ state: "visible", timeout: 60_000 });
    await page.getByText("Enter the code from your token").waitFor();
    const field = page.getByLabel("Verification code:");
    assertEquals(await field.getAttribute("type"), "text");
    await field.fill("424242");
    assertEquals(await accessibilityViolations(page), [], "accessibility of the prompt");
    await page.screenshot({ path: `${SCREENSHOTS}/terminal-second-factor.png` });
    await page.click("#term-prompt >> text=Send");
    await page.locator("#term-status", { hasText: "connected" }).waitFor({ timeout: 60_000 });
    await page.waitForFunction(() =>
      (globalThis as unknown as Page).ncTerminal.buffer.active.getLine(0)?.translateToString(true)
        .includes("mfa-ok")
    );
  } finally {
    await browser.close();
    await stack.stop();
    await mfa.stop();
  }
});

Deno.test("browser terminal: a keyboard-interactive round of 40 questions is answered in full; one of 65 ends with why", async () => {
  const many = await startMfaSshServer({ user: "op", password: "pw-1", code: "7", codes: 40 });
  const tooMany = await startMfaSshServer({ user: "op", password: "pw-1", code: "7", codes: 65 });
  const stack = await Stack.start();
  try {
    const q = await stack.quickstart([many.port, tooMany.port]);
    await stack.agentFor(q);
    const admin = await stack.addUser(q.tenantId, "admin");
    const cookie = await stack.signIn(admin.email, admin.password);
    const w = {
      stack,
      q,
      cookie,
      csrf: await csrfTokenFor(cookie.split("=")[1]),
    } as World;
    const loggedIn = async (port: number) => {
      const c = new TermClient({ ...w, handle: q.device.handles[port] });
      await c.until("login", () => c.message("login") !== undefined);
      c.send({ type: "login", username: "op", password: "pw-1" });
      return c;
    };

    // Before, the page's 40 answers were "invalid terminal message" (at most 16 were taken).
    const c = await loggedIn(many.port);
    await c.until("the second round", () => c.message("prompt") !== undefined);
    const round = c.messages.find((m) => m.type === "prompt") as unknown as {
      prompts: { prompt: string }[];
    };
    assertEquals(round.prompts.length, 40);
    c.send({ type: "answers", answers: round.prompts.map(() => "7") });
    await c.connected();
    await c.until("the shell", () => c.output.includes("mfa-ok"));
    c.ws.close();
    await c.closed;

    const d = await loggedIn(tooMany.port);
    await d.ended();
    assertEquals(d.message("prompt"), undefined, "no form the operator could not send");
    assertEquals(d.message("end"), {
      type: "end",
      message: "the device asked 65 questions at once; the terminal answers at most 64",
      error: "ssh_auth_failed",
    });
    assertEquals((await d.closed).code, 1008);
  } finally {
    await stack.stop();
    await many.stop();
    await tooMany.stop();
  }
});
