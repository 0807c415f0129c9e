/**
 * The browser terminal's assets, served from the executable: xterm.js and its fit add-on, read
 * from their npm packages at build time (text imports, so `deno compile` embeds them — no CDN),
 * and two small modules of ours — the live terminal (WebSocket to `/api/terminal/{handle}`,
 * resize, the one-time login prompt) and the recording player (asciicast v2).
 * @module
 */
import { Hono } from "hono";
import XTERM_JS from "@xterm/xterm/lib/xterm.mjs" with { type: "text" };
import XTERM_CSS from "@xterm/xterm/css/xterm.css" with { type: "text" };
import FIT_JS from "@xterm/addon-fit/lib/addon-fit.mjs" with { type: "text" };

/** The live terminal page's module. */
export const TERMINAL_JS = `
import { Terminal } from "/ui/vendor/xterm.mjs";
import { FitAddon } from "/ui/vendor/addon-fit.mjs";
const box = document.querySelector("[data-terminal]");
const statusLine = document.getElementById("term-status");
const form = document.getElementById("term-login");
const term = new Terminal({ cursorBlink: true, fontFamily: "ui-monospace, SFMono-Regular, Menlo, monospace", fontSize: 14, scrollback: 5000 });
const fit = new FitAddon();
term.loadAddon(fit);
term.open(box);
fit.fit();
globalThis.ncTerminal = term;
function status(text, kind) { statusLine.textContent = text; statusLine.dataset.kind = kind || ""; }
const csrf = document.querySelector('meta[name="csrf-token"]')?.content ?? "";
const ws = new WebSocket((location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/api/terminal/" + encodeURIComponent(box.dataset.terminal), ["nc-terminal", "csrf." + csrf]);
ws.binaryType = "arraybuffer";
const send = (m) => { if (ws.readyState === 1) ws.send(JSON.stringify(m)); };
let opened = false;
ws.onopen = () => { opened = true; status("connecting…"); send({ type: "hello", cols: term.cols, rows: term.rows }); };
ws.onmessage = (ev) => {
  if (typeof ev.data !== "string") { term.write(new Uint8Array(ev.data)); return; }
  const m = JSON.parse(ev.data);
  if (m.type === "status") { status(m.message); if (m.message.startsWith("connected")) term.focus(); }
  else if (m.type === "warning") status(m.message, "warning");
  else if (m.type === "login") { status(m.message, "warning"); form.hidden = false; form.querySelector("input").focus(); }
  else if (m.type === "prompt") ask(m);
  else if (m.type === "end") { status(m.message, m.error ? "error" : "ended"); box.dataset.ended = m.error || "ok"; }
};
ws.onclose = (ev) => {
  term.options.disableStdin = true;
  // A refused upgrade (signed out elsewhere, the cloud unreachable) closes before it opens, and
  // the browser does not say why.
  const why = opened ? ev.reason || "disconnected" : "the cloud refused the terminal or could not be reached: reload the page (sign in again if asked)";
  if (!box.dataset.ended) { box.dataset.ended = "closed"; status(why, "error"); }
};
// A large paste goes in pieces (the cloud takes at most 64 KiB of input per message).
term.onData((data) => { for (let i = 0; i < data.length; i += 8192) send({ type: "input", data: data.slice(i, i + 8192) }); });
term.onResize(({ cols, rows }) => send({ type: "resize", cols, rows }));
new ResizeObserver(() => fit.fit()).observe(box);
// Keyboard-interactive rounds of the device (a one-time code…): one field per prompt.
const askForm = document.getElementById("term-prompt");
function ask(m) {
  const fields = askForm.querySelector(".fields");
  fields.replaceChildren();
  status([m.name, m.instructions].filter(Boolean).join(" — ") || "The device asks:", "warning");
  m.prompts.forEach((p, i) => {
    const id = "term-prompt-" + i;
    const label = document.createElement("label"); label.htmlFor = id; label.textContent = p.prompt;
    const input = document.createElement("input"); input.id = id; input.autocomplete = "off";
    input.type = p.echo ? "text" : "password";
    const div = document.createElement("div"); div.append(label, input); fields.append(div);
  });
  askForm.hidden = false;
  fields.querySelector("input")?.focus();
}
askForm.addEventListener("submit", (e) => {
  e.preventDefault();
  const inputs = [...askForm.querySelectorAll("input")];
  send({ type: "answers", answers: inputs.map((i) => i.value) });
  askForm.querySelector(".fields").replaceChildren(); askForm.hidden = true; status("logging in…"); term.focus();
});
form.addEventListener("submit", (e) => {
  e.preventDefault();
  const user = form.elements.username, pass = form.elements.password;
  send({ type: "login", username: user.value, password: pass.value });
  pass.value = ""; form.hidden = true; status("logging in…"); term.focus();
});
`;

/** The recording player's module. */
export const PLAYER_JS = `
import { Terminal } from "/ui/vendor/xterm.mjs";
const box = document.querySelector("[data-recording]");
const statusLine = document.getElementById("term-status");
const res = await fetch("/api/recordings/" + encodeURIComponent(box.dataset.recording), { credentials: "same-origin" });
if (!res.ok) { statusLine.textContent = "recording not available (" + res.status + ")"; throw new Error("no recording"); }
const lines = (await res.text()).split("\\n").filter(Boolean).map((l) => JSON.parse(l));
const header = lines.shift();
const term = new Terminal({ cols: header.width, rows: header.height, fontFamily: "ui-monospace, SFMono-Regular, Menlo, monospace", fontSize: 14, disableStdin: true });
term.open(box);
globalThis.ncTerminal = term;
const speed = Number(new URLSearchParams(location.search).get("speed") || "1");
let clock = 0;
statusLine.textContent = "playing…";
for (const [t, kind, data] of lines) {
  const wait = Math.min(Math.max(0, t - clock), 1) / speed;
  clock = t;
  if (wait > 0) await new Promise((r) => setTimeout(r, wait * 1000));
  if (kind === "o") term.write(data);
  else if (kind === "r") { const [c, r] = data.split("x").map(Number); if (c && r) term.resize(c, r); }
}
term.write("", () => { box.dataset.done = "1"; statusLine.textContent = "end of recording"; });
`;

const TERMINAL_CSS = `
.term-page{display:flex;flex-direction:column;gap:.6rem}
.term-box{background:#000;padding:.4rem;border-radius:6px;height:70vh;min-height:12rem}
#term-status{font-weight:600}#term-status[data-kind=warning]{color:var(--warn)}#term-status[data-kind=error]{color:var(--bad)}
.term-login,.term-login .fields{display:flex;gap:.6rem;align-items:flex-end;flex-wrap:wrap}.term-login[hidden]{display:none}
`;

/** Serves the vendored xterm.js, its stylesheet and our two modules under /ui/. */
export function terminalAssetRoutes(): Hono {
  const app = new Hono();
  const headers = (type: string) => ({
    "content-type": type,
    "cache-control": "public, max-age=3600",
    "x-content-type-options": "nosniff",
  });
  const js = "text/javascript; charset=utf-8";
  const css = "text/css; charset=utf-8";
  app.get("/ui/vendor/xterm.mjs", (c) => c.body(XTERM_JS, 200, headers(js)));
  app.get("/ui/vendor/addon-fit.mjs", (c) => c.body(FIT_JS, 200, headers(js)));
  app.get("/ui/vendor/xterm.css", (c) => c.body(XTERM_CSS + TERMINAL_CSS, 200, headers(css)));
  app.get("/ui/terminal.js", (c) => c.body(TERMINAL_JS, 200, headers(js)));
  app.get("/ui/player.js", (c) => c.body(PLAYER_JS, 200, headers(js)));
  return app;
}
