/**
 * The live view's player script, served at /ui/live.js: every `<video data-live>` on the page
 * opens `GET /api/live/{handle}?path=…` as a WebSocket and feeds the fMP4 it receives to Media
 * Source Extensions (`video/mp4; codecs="avc1.PPCCLL"` from the camera's SPS). It stays near the
 * live edge (jumps forward when more than half a second behind), trims old buffer, and says plainly
 * why it stopped (revoked credentials, camera gone, a browser without MSE such as iOS Safari).
 *
 * A wall monitor must not need a person to press reload: when the stream ends for a reason that
 * passes (the agent reconnecting, the camera session ended, the cloud node restarting or gone
 * behind its load balancer), the player tries again after 1, 2, 4, 8, 15, then every 30 s, and
 * says why and when. A browser never learns why an upgrade was refused (its WebSocket just
 * closes), so after one the player asks the same URL without upgrading: 426 means the cloud would
 * serve it (the camera did not answer), 503 is the guide's "agent reconnecting", and a refusal that
 * will not pass by waiting (401, 403, 404, 400) stops it with the cloud's own message, as do
 * revoked credentials (close code 1008) and a playback error twice in a row (once, it starts over).
 * Hidden tabs wait until shown.
 * A connection that goes quiet without closing (a cloud node that lost power or hangs: no FIN
 * reaches the browser, whose socket would wait many minutes) is given up after
 * {@link STALL_SECONDS} without a message, connecting included, and retried the same way; the
 * cloud itself never leaves a healthy viewer that long without a picture (a silent camera's
 * session ends after 10 s). `data-state` on the video (connecting, playing, retrying, closed,
 * unsupported) and `data-reason` are what tests look at; `window.__ncLiveStallSeconds` shortens
 * the stall limit.
 *
 * A camera's recording (`data-from`) is a stream that moves on: the player knows which instant is
 * on the screen (where it was asked from, plus how far it has played), plays on from there when it
 * reconnects, and the page's "30 s back", "Pause" and "30 s on" end the session and ask the camera
 * afresh from the instant wanted.
 * @module
 */
import { REFUSAL_JS } from "./refusal.ts";
import { WS_PROOF_JS } from "./ws_proof.ts";
import { CLOCK_SPAN_JS } from "./clock_span.ts";
import { CODEC_WORDS_JS } from "./codec_words.ts";

/** Seconds between attempts, the last one repeated. */
export const RETRY_SECONDS = [1, 2, 4, 8, 15, 30];

/** Seconds without a message after which the player gives a connection up and reconnects. */
export const STALL_SECONDS = 30;

/** The script. */
export const LIVE_JS = `${REFUSAL_JS}${WS_PROOF_JS}${CLOCK_SPAN_JS}${CODEC_WORDS_JS}
const RETRY = ${JSON.stringify(RETRY_SECONDS)};
const STALL = window.__ncLiveStallSeconds || ${STALL_SECONDS};
function say(video, text) {
  const s = video.closest("figure")?.querySelector(".live-status");
  if (s) s.textContent = text;
}
function liveUrl(video, proto) {
  return proto + "//" + location.host + "/api/live/" + encodeURIComponent(video.dataset.live) +
    "?path=" + encodeURIComponent(video.dataset.path || "/") +
    (video.dataset.from ? "&from=" + encodeURIComponent(video.dataset.from) : "") +
    (video.dataset.from && video.dataset.speed ? "&speed=" + encodeURIComponent(video.dataset.speed) : "");
}
function stop(video, text) {
  video.dataset.state = "closed"; video.dataset.reason = text;
  say(video, "Stopped: " + text + ".");
}
// Downloads href as a file (named name, or as the cloud names it).
function download(href, name = "") {
  const a = document.createElement("a");
  a.href = href; a.download = name;
  document.body.append(a); a.click(); a.remove();
}
// A recording's instant as the page asks for it: UTC, to the second.
function isoSecond(ms) { return new Date(Math.floor(ms / 1000) * 1000).toISOString().replace(/\\.\\d+Z$/, "Z"); }
// The instant (ms) of the camera's recording on the screen of a video playing one, else null:
// where it was asked to play from, and how far it has played since its first picture.
function replayPosition(video) {
  if (!video.dataset.from) return null;
  const from = Date.parse(video.dataset.from);
  return video._mediaStart === undefined ? from : from + Math.max(0, video.currentTime - video._mediaStart) * 1000;
}
// The recording is to play from the instant ms: the video, the page's address (a reload or a
// copied link plays from there) and its "Recording from" say so.
function placeAt(video, ms) {
  const from = isoSecond(ms);
  video.dataset.from = from;
  // Until pictures from there arrive, the instant on the screen is where it is placed.
  video._mediaStart = undefined;
  const q = new URLSearchParams(location.search);
  if (q.has("from")) { q.set("from", from); history.replaceState(null, "", "?" + q); }
  const started = document.querySelector(".recording-now time");
  if (started) { started.dateTime = from; started.textContent = new Date(from).toLocaleString(); }
}
// Ends what the video plays now (its connection; a retry waiting), leaving it to play afresh.
function halt(video) {
  video._gen = (video._gen || 0) + 1;
  const ws = video._ws; video._ws = null;
  if (ws) { try { ws.close(); } catch {} }
}
function retry(video, attempt, text) {
  const gen = video._gen;
  // A recording plays on from where it was, not from where it was first asked.
  if (video.dataset.from && video._mediaStart !== undefined) placeAt(video, replayPosition(video));
  const wait = RETRY[Math.min(attempt, RETRY.length - 1)];
  video.dataset.state = "retrying"; video.dataset.reason = text;
  video.dataset.attempts = String(attempt + 1);
  say(video, "Reconnecting in " + wait + " s: " + text + ".");
  setTimeout(function again() {
    if (video._gen !== gen) return;
    if (document.hidden) return document.addEventListener("visibilitychange", again, { once: true });
    play(video, attempt + 1);
  }, wait * 1000);
}
function play(video, attempt = 0) {
  // Each play is a generation: one halt() ended is heard from no more.
  const gen = video._gen = (video._gen || 0) + 1;
  video._mediaStart = undefined;
  video.dataset.state = "connecting"; say(video, attempt ? "Reconnecting…" : "Connecting…");
  const ws = video._ws = new WebSocket(liveUrl(video, location.protocol === "https:" ? "wss:" : "ws:"), proofProtocols("nc-live"));
  ws.binaryType = "arraybuffer";
  let sb = null, opened = false, playingSince = 0, failed = null; const queue = [];
  const pump = () => { if (sb && !sb.updating && queue.length) { try { sb.appendBuffer(queue.shift()); } catch (e) { failed = "playback error: " + e.message; ws.close(); } } };
  const follow = () => {
    const b = video.buffered; if (!b.length) return;
    const end = b.end(b.length - 1);
    // Live keeps within half a second of the newest picture; a recording may have a little more
    // buffered, the more the faster it plays.
    const slack = (video.dataset.from ? 2 : 0.5) * video.playbackRate;
    if (video.currentTime < b.start(0) || end - video.currentTime > slack) video.currentTime = Math.max(b.start(b.length - 1), end - 0.1);
    if (video.paused) video.play().catch(() => {});
    if (!sb.updating && video.currentTime - b.start(0) > 20) sb.remove(b.start(0), video.currentTime - 5);
  };
  // A stream that played a while starts its count of attempts again.
  const nextAttempt = () => playingSince && Date.now() - playingSince > 10000 ? 0 : attempt;
  let heard = Date.now();
  const stall = setInterval(() => {
    if (video._gen !== gen) return clearInterval(stall);
    if (Date.now() - heard < STALL * 1000) return;
    // A dead peer never completes a close handshake: leave this socket and start over now.
    clearInterval(stall);
    ws.onopen = ws.onmessage = ws.onclose = null;
    try { ws.close(); } catch {}
    retry(video, nextAttempt(), "no word from the cloud for " + STALL + " s");
  }, 1000);
  ws.onopen = () => { opened = true; heard = Date.now(); };
  ws.onmessage = (ev) => {
    if (video._gen !== gen) return;
    heard = Date.now();
    if (typeof ev.data === "string") {
      const m = JSON.parse(ev.data);
      if (m.type === "origin") { video.dataset.origin = String(m.originMs); return; }
      const type = 'video/mp4; codecs="' + m.codec + '"';
      if (!window.MediaSource || !MediaSource.isTypeSupported(type)) {
        video.dataset.state = "unsupported";
        video.dataset.reason = cannotPlay(m.codec);
        say(video, video.dataset.reason);
        ws.close(); return;
      }
      const ms = new MediaSource();
      if (video.src) URL.revokeObjectURL(video.src);
      // A recording played faster: at the speed the cloud sends it (1 when the camera sends it
      // only as it happened).
      const speed = Number(m.speed) || 1;
      video.defaultPlaybackRate = speed;
      video.src = URL.createObjectURL(ms);
      video.playbackRate = speed;
      ms.addEventListener("sourceopen", () => {
        if (video._gen !== gen) return;
        sb = ms.addSourceBuffer(type); sb.mode = "segments";
        sb.addEventListener("updateend", () => {
          // An append that ends after a halt (a pause, a move) belongs to a stream gone: it
          // neither starts the count of the instant on the screen nor plays the video again.
          if (video._gen !== gen) return;
          if (video._mediaStart === undefined && video.buffered.length) video._mediaStart = video.buffered.start(0);
          if (video.currentTime > 1) video._playbackFailed = false;
          follow(); pump();
        });
        pump();
      }, { once: true });
      video.dataset.state = "playing"; video.dataset.reason = ""; playingSince = Date.now();
      const slower = Number(video.dataset.speed || 1) > speed;
      // A camera's sound: its tile's "Turn sound on" shows (the picture starts muted, as browsers
      // play on their own only muted; the press is the person's choice to hear it).
      const codecs = String(m.codec).split(",");
      const sound = video.closest(".live-tile")?.querySelector("[data-sound]");
      if (sound) sound.hidden = codecs.length < 2;
      // The sound named as cameras name it (the cloud makes FLAC only of G.711).
      const named = { "mp4a.40.2": "AAC", "mp4a.40.5": "HE-AAC", "mp4a.40.29": "HE-AAC v2", flac: "G.711" };
      const said = codecs.length < 2 ? m.codec : codecs[0] + " with sound (" + codecs.slice(1).map((c) => named[c] || c).join(", ") + ")";
      say(video, m.width + "×" + m.height + " " + said + (speed > 1 ? " at " + speed + "×" : "") +
        (slower ? ": this camera sends its recording only as it happened, so it plays at that speed" : ""));
      return;
    }
    queue.push(ev.data);
    if (queue.length > 120) queue.splice(0, queue.length - 60);
    pump();
  };
  ws.onclose = async (ev) => {
    clearInterval(stall);
    if (video._gen !== gen) return;
    if (video.dataset.state === "unsupported") return;
    // A browser's media pipeline may fail once on a stream it plays (WebKitGTK's loses a race
    // linking its tracks now and then): start over once; a second failure in a row stops.
    if (failed && video._playbackFailed) return stop(video, failed);
    if (failed) { video._playbackFailed = true; return retry(video, 0, failed); }
    // Revoked credentials, a sign-out, an admin's termination: waiting will not bring it back.
    if (ev.code === 1008) return stop(video, ev.reason || "credentials revoked");
    const next = nextAttempt();
    if (opened) return retry(video, next, ev.reason || "the connection to the cloud was lost");
    const w = await refusalOf(liveUrl(video, location.protocol));
    if (!w.retry) return stop(video, w.text);
    retry(video, next, w.text);
  };
}
for (const v of document.querySelectorAll("video[data-live]")) play(v);
// How often the camera's alerts may come: saved as soon as it is chosen.
// A device setting chosen in a select, saved as soon as it is chosen (PATCH of the device): the
// page says what was saved, or the cloud's words.
const savesDevice = (s, said, body, words) => {
  s.addEventListener("change", async () => {
    s.disabled = true;
    try {
      const csrf = document.querySelector('meta[name="csrf-token"]')?.content ?? "";
      const r = await fetch(s.dataset.device, {
        method: "PATCH", credentials: "same-origin",
        headers: { "x-csrf-token": csrf, "content-type": "application/json" },
        body: JSON.stringify(body(s.value)),
      });
      const j = await r.json().catch(() => ({}));
      said.textContent = r.ok ? words(s.selectedOptions[0].textContent) : (j.message || "HTTP " + r.status);
    } catch (e) { said.textContent = e.message; }
    finally { s.disabled = false; }
  });
};
for (const s of document.querySelectorAll("select[data-quiet]")) {
  savesDevice(s, document.getElementById("quiet-said"), (v) => ({ alertQuietSeconds: Number(v) }),
    (w) => "Saved: alerts " + w + ".");
}
// Whether the live view plays this camera's sound (an admin's choice): the pictures playing
// reconnect with it, or without it, within seconds.
for (const s of document.querySelectorAll("select[data-live-sound]")) {
  savesDevice(s, document.getElementById("live-sound-said"), (v) => ({ liveSound: v === "on" }),
    (w) => "Saved: sound " + w + ". Pictures playing now reconnect within seconds.");
}
// A camera control's call: its answer, or an Error in the cloud's words.
const postJson = async (url, body) => {
  const csrf = document.querySelector('meta[name="csrf-token"]')?.content ?? "";
  const r = await fetch(url, {
    method: "POST", credentials: "same-origin",
    headers: { "x-csrf-token": csrf, "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  const j = await r.json().catch(() => ({}));
  if (!r.ok) throw new Error(j.message || "HTTP " + r.status);
  return j;
};
// Buttons that act while held: pressed by pointer (captured) or by Enter or Space, let go when
// released, left, blurred or the tab hidden.
const holdable = (buttons, press, release) => {
  for (const b of buttons) {
    b.addEventListener("pointerdown", (e) => { e.preventDefault(); b.setPointerCapture?.(e.pointerId); press(b); });
    for (const ev of ["pointerup", "pointercancel", "lostpointercapture"]) b.addEventListener(ev, release);
    b.addEventListener("keydown", (e) => { if ((e.key === "Enter" || e.key === " ") && !e.repeat) { e.preventDefault(); press(b); } });
    b.addEventListener("keyup", (e) => { if (e.key === "Enter" || e.key === " ") release(); });
    b.addEventListener("blur", release);
  }
  document.addEventListener("visibilitychange", () => { if (document.hidden) release(); });
};
// Pan, tilt, zoom: asked first whether the camera can (a stop); then each pad button moves it
// while held, at the speed chosen — the move repeated each second, as the camera stops by itself
// 2 s after the last — and stops it when let go, left or the page hidden.
for (const box of document.querySelectorAll("[data-ptz]")) {
  const said = box.querySelector("#ptz-said");
  // One call at a time, in order: a stop never overtakes the move before it.
  let last = Promise.resolve();
  const send = (body) => {
    const p = last.catch(() => {}).then(() => post(body));
    last = p;
    return p;
  };
  const post = (body) => postJson(box.dataset.ptz, body);
  // The positions the camera keeps, by the names they were given (select: the one to pick).
  const list = box.querySelector("#ptz-preset");
  const loadPresets = async (select) => {
    const r = await fetch(box.dataset.ptz + "/presets", { credentials: "same-origin" });
    if (!r.ok) throw new Error((await r.json().catch(() => ({}))).message || "HTTP " + r.status);
    const presets = (await r.json()).presets;
    list.replaceChildren(...presets.map((p) => { const o = document.createElement("option"); o.value = p.token; o.textContent = p.name; return o; }));
    if (select !== undefined) list.value = select;
    box.querySelector(".ptz-presets").hidden = presets.length === 0;
  };
  const start = box.querySelector("[data-ptz-start]");
  start.addEventListener("click", async () => {
    start.disabled = true; start.setAttribute("aria-busy", "true"); said.textContent = "Asking the camera…";
    try {
      await send({ action: "stop" });
      start.hidden = true;
      for (const el of box.querySelectorAll(".ptz-pad, .ptz-zoom")) el.hidden = false;
      said.textContent = "Hold a button to move the camera; it stops when you let go.";
    } catch (e) { said.textContent = e.message; start.disabled = false; return; }
    finally { start.removeAttribute("aria-busy"); }
    try { await loadPresets(); box.querySelector(".ptz-save").hidden = false; } catch {}
  });
  // Where the camera points now, kept by a name (over the preset of that name).
  box.querySelector(".ptz-save").addEventListener("submit", async (e) => {
    e.preventDefault();
    const input = box.querySelector("#ptz-save-name");
    const name = input.value.trim(); if (!name) return;
    try {
      const { preset } = await send({ action: "save", name });
      input.value = "";
      await loadPresets(preset.token);
      said.textContent = preset.replaced ? "“" + name + "” now points here." : "Saved as “" + name + "”.";
    } catch (err) { said.textContent = err.message; }
  });
  box.querySelector("[data-ptz-remove]").addEventListener("click", async () => {
    const name = list.selectedOptions[0]?.textContent ?? ""; if (!list.value) return;
    if (!confirm("Remove the preset “" + name + "” from the camera?")) return;
    try { await send({ action: "remove", preset: list.value }); await loadPresets(); said.textContent = "Removed “" + name + "”."; }
    catch (err) { said.textContent = err.message; }
  });
  box.querySelector("[data-ptz-goto]").addEventListener("click", async () => {
    const name = list.selectedOptions[0]?.textContent ?? "";
    try { await send({ action: "preset", preset: list.value }); said.textContent = "Going to " + name + "."; }
    catch (e) { said.textContent = e.message; }
  });
  // The speed this browser chose last, kept for the next camera.
  const speed = box.querySelector("#ptz-speed");
  try { const kept = localStorage.getItem("nc-ptz-speed"); if (kept && [...speed.options].some((o) => o.value === kept)) speed.value = kept; } catch {}
  speed.addEventListener("change", () => { try { localStorage.setItem("nc-ptz-speed", speed.value); } catch {} });
  let held = null;
  const release = () => {
    if (!held) return;
    clearInterval(held.timer); held.button.setAttribute("aria-pressed", "false"); held = null;
    send({ action: "stop" }).catch((e) => { said.textContent = e.message; });
  };
  const press = (button) => {
    if (held?.button === button) return;
    release();
    const dir = JSON.parse(button.dataset.ptzMove);
    // At the speed chosen when each repeat goes out (a change while held applies at once).
    const go = () => {
      const v = Number(speed.value) || 0.5;
      const body = { action: "move", pan: dir.pan * v, tilt: dir.tilt * v, zoom: dir.zoom * v };
      return send(body).catch((e) => { said.textContent = e.message; release(); });
    };
    held = { button, timer: setInterval(go, 1000) };
    button.setAttribute("aria-pressed", "true");
    go();
  };
  holdable(box.querySelectorAll("[data-ptz-move]"), press, release);
}
// Focus: asked first whether the camera can (and how it focuses now); then Nearer and Farther
// nudge the lens while held — each nudge a short move the cloud stops itself, the next sent when
// the last is done, so the lens never runs on — and Auto focus hands it back to the camera.
for (const box of document.querySelectorAll("[data-focus]")) {
  const said = box.querySelector("#focus-said");
  const post = (body) => postJson(box.dataset.focus, body);
  const modeWords = (mode) => mode === "AUTO" ? " It focuses by itself now (auto)." : mode === "MANUAL" ? " Its focus stays where it is set (manual)." : "";
  const start = box.querySelector("[data-focus-start]");
  start.addEventListener("click", async () => {
    start.disabled = true; start.setAttribute("aria-busy", "true"); said.textContent = "Asking the camera…";
    try {
      const { mode } = await post({ action: "ask" });
      start.hidden = true;
      box.querySelector(".focus-buttons").hidden = false;
      said.textContent = "Hold Nearer or Farther to focus." + modeWords(mode);
    } catch (e) { said.textContent = e.message; start.disabled = false; }
    finally { start.removeAttribute("aria-busy"); }
  });
  let held = null;
  const release = () => { if (held) held.setAttribute("aria-pressed", "false"); held = null; };
  const press = async (button) => {
    if (held) return;
    held = button; button.setAttribute("aria-pressed", "true");
    const speed = Number(button.dataset.focusNudge) * 0.5;
    let nudges = 0;
    do {
      try { await post({ action: "nudge", speed }); nudges++; }
      catch (e) { said.textContent = e.message; break; }
    } while (held === button);
    if (held === button) release();
    if (nudges) said.textContent = (speed < 0 ? "Focused nearer" : "Focused farther") + (nudges > 1 ? " (" + nudges + " steps)." : ".");
  };
  holdable(box.querySelectorAll("[data-focus-nudge]"), press, release);
  box.querySelector("[data-focus-auto]").addEventListener("click", async () => {
    try { await post({ action: "auto" }); said.textContent = "The camera focuses by itself now (auto)."; }
    catch (e) { said.textContent = e.message; }
  });
}
// Alarm outputs: listed on demand; each triggered (a pulse) or switched on and off, confirmed
// before anything wired to it acts.
for (const box of document.querySelectorAll("[data-relays]")) {
  const said = box.querySelector("#relays-said");
  const list = box.querySelector(".relay-list");
  const start = box.querySelector("[data-relays-start]");
  const button = (text, label, onClick) => {
    const b = document.createElement("button");
    b.type = "button"; b.textContent = text; b.setAttribute("aria-label", label);
    b.addEventListener("click", () => onClick(b));
    return b;
  };
  const act = async (b, relay, state) => {
    const pulse = relay.mode === "Monostable";
    if (state === "active" && !confirm((pulse ? "Trigger " : "Switch on ") + relay.token + " on " + box.dataset.label + "? What is wired to it (a gate, a door, a siren) acts at once.")) return;
    b.disabled = true; b.setAttribute("aria-busy", "true");
    try {
      await postJson(box.dataset.relays, { token: relay.token, state });
      said.textContent = state === "inactive" ? relay.token + " is off."
        : pulse ? "Triggered " + relay.token + (relay.delaySeconds ? ": it goes back by itself after " + relay.delaySeconds + " s." : ".")
        : relay.token + " is on.";
    } catch (e) { said.textContent = e.message; }
    finally { b.disabled = false; b.removeAttribute("aria-busy"); }
  };
  start.addEventListener("click", async () => {
    start.disabled = true; start.setAttribute("aria-busy", "true"); said.textContent = "Asking the camera…";
    try {
      const r = await fetch(box.dataset.relays, { credentials: "same-origin" });
      const j = await r.json().catch(() => ({}));
      if (!r.ok) throw new Error(j.message || "HTTP " + r.status);
      list.replaceChildren(...j.relays.map((relay) => {
        const li = document.createElement("li");
        const name = document.createElement("span");
        name.textContent = relay.token + (relay.mode === "Monostable" && relay.delaySeconds ? " (pulses " + relay.delaySeconds + " s)" : "");
        li.append(name);
        if (relay.mode === "Monostable") li.append(button("Trigger", "Trigger " + relay.token, (b) => act(b, relay, "active")));
        else li.append(button("On", "On: " + relay.token, (b) => act(b, relay, "active")), button("Off", "Off: " + relay.token, (b) => act(b, relay, "inactive")));
        return li;
      }));
      start.hidden = true; list.hidden = j.relays.length === 0;
      said.textContent = j.relays.length ? "" : "The camera lists no alarm outputs.";
    } catch (e) { said.textContent = e.message; start.disabled = false; }
    finally { start.removeAttribute("aria-busy"); }
  });
}
// The camera's clock: how far off it is and how it keeps time; set when more than 5 s off.
const clockWords = (c) =>
  (c.off ? "The camera's clock is " + clockSpan(c.offsetSeconds) : "The camera's clock is right (within 5 s)") +
  (c.keptBy === "NTP" ? (c.off ? "; it is told to take its time from NTP, which it most likely cannot reach" : "; it takes its time from NTP") : c.keptBy === "Manual" ? "; it keeps time by itself" : "") +
  (c.timeZone ? " (time zone " + c.timeZone + ")" : "") + ".";
for (const box of document.querySelectorAll("[data-clock]")) {
  const said = box.querySelector("#clock-said");
  const setButton = box.querySelector("[data-clock-set]");
  const ask = async (button, action) => {
    button.disabled = true; button.setAttribute("aria-busy", "true");
    said.textContent = action === "set" ? "Setting the camera's clock…" : "Asking the camera…";
    try {
      const { clock } = await postJson(box.dataset.clock, { action });
      said.textContent = (action === "set" ? "Set. " : "") + clockWords(clock);
      setButton.hidden = !clock.off;
    } catch (e) { said.textContent = e.message; }
    finally { button.disabled = false; button.removeAttribute("aria-busy"); }
  };
  const read = box.querySelector("[data-clock-read]");
  read.addEventListener("click", () => ask(read, "read"));
  setButton.addEventListener("click", () => ask(setButton, "set"));
}
// Restart: confirmed first; then what the camera said. The player picks the picture up again
// when the camera is back (it retries by itself); the button waits a minute before another.
for (const b of document.querySelectorAll("button[data-reboot]")) {
  const said = document.getElementById("reboot-said");
  b.addEventListener("click", async () => {
    if (!confirm("Restart " + b.dataset.label + "? Its picture and recording stop until it is back, usually within a few minutes.")) return;
    b.disabled = true; b.setAttribute("aria-busy", "true"); said.textContent = "Asking the camera to restart…";
    try {
      const { message } = await postJson(b.dataset.reboot, {});
      said.textContent = "The camera is restarting" + (message ? " (it said “" + message + "”)" : "") + ". The picture comes back by itself when it is up.";
      setTimeout(() => { b.disabled = false; }, 60000);
    } catch (e) { said.textContent = e.message; b.disabled = false; }
    finally { b.removeAttribute("aria-busy"); }
  });
}
// The camera's recording: asked where it is and what it holds, then played from a time chosen
// in this browser's own time zone (the page reloads on the replay path from that instant).
for (const t of document.querySelectorAll("time[data-local]")) t.textContent = new Date(t.getAttribute("datetime")).toLocaleString();
for (const box of document.querySelectorAll("[data-recording]")) {
  const said = box.querySelector("#recording-said");
  const form = box.querySelector(".recording-play");
  const input = box.querySelector("#recording-from");
  const start = box.querySelector("[data-recording-start]");
  // An instant as a datetime-local input shows it: this browser's wall clock, to the second.
  const local = (ms) => new Date(ms - new Date(ms).getTimezoneOffset() * 60000).toISOString().slice(0, 19);
  const which = box.querySelector("#recording-which");
  // The recording played and searched: the page's own (?recording=, kept while it plays one), else
  // the camera's first; many is true when the camera keeps more than one (an NVR, one per channel).
  let replay = null, chosen = new URLSearchParams(location.search).get("recording"), many = false;
  const describe = (token) => postJson(box.dataset.recording, token ? { recording: token } : {});
  // Asks the camera where its recording (token: another one) is and what it holds; true when
  // it said. Asked once, unless another recording is chosen.
  const ask = async (token) => {
    if (replay && typeof token !== "string") return true;
    start.disabled = which.disabled = true; start.setAttribute("aria-busy", "true"); said.textContent = "Asking the camera…";
    try {
      const want = typeof token === "string" ? token : chosen;
      // A recording the page remembers that the camera no longer keeps: its first instead.
      const r = await describe(want).catch((e) => { if (want && want === chosen) return describe(null); throw e; });
      replay = r.path; chosen = r.recording; many = r.recordings.length > 1;
      if (many) {
        which.replaceChildren(...r.recordings.map((x) => new Option(x.name, x.token, false, x.token === r.recording)));
        which.closest(".recording-which").hidden = false;
      }
      const from = r.from ? Date.parse(r.from) : null, until = r.until ? Date.parse(r.until) : null;
      if (from !== null) input.min = local(from); else input.removeAttribute("min");
      if (until !== null) input.max = local(until); else input.removeAttribute("max");
      input.value = local(Math.max(from ?? 0, (until ?? Date.now()) - 3600000));
      start.hidden = true; form.hidden = false;
      const name = many ? r.recordings.find((x) => x.token === r.recording).name + ": it" : "It";
      said.textContent = from !== null && until !== null
        ? name + " holds pictures from " + new Date(from).toLocaleString() + " to " + new Date(until).toLocaleString() + "."
        : "Choose when to play it from.";
      return true;
    } catch (e) { said.textContent = e.message; start.disabled = false; return false; }
    finally { start.removeAttribute("aria-busy"); which.disabled = false; }
  };
  // Another of the camera's recordings: what it holds, and nothing found in the one before.
  which.addEventListener("change", () => { found.hidden = true; list.replaceChildren(); ask(which.value); });
  // Reloads the page on the recording from the instant ms.
  const playFrom = (ms) => {
    const from = new Date(ms).toISOString().replace(/\\.\\d+Z$/, "Z");
    const q = new URLSearchParams({ replay, from });
    if (box.dataset.livePath) q.set("path", box.dataset.livePath);
    if (many) q.set("recording", chosen);
    location.search = "?" + q;
  };
  start.addEventListener("click", ask);
  // "What happened from then": the camera's search of its recording from the chosen time on,
  // each event with "Play" from just before it; "Find more" goes on where the search stopped.
  const find = box.querySelector("[data-recording-find]");
  const found = box.querySelector(".recording-found");
  const list = box.querySelector(".recording-events");
  const more = box.querySelector("[data-recording-more]");
  const before = Number(box.dataset.replayBefore || 0);
  let next = null, since = null;
  const search = async (from, fresh) => {
    find.disabled = more.disabled = true; find.setAttribute("aria-busy", "true");
    said.textContent = "Asking the camera what its recording holds…";
    try {
      const r = await postJson(box.dataset.recording + "/events", { from: new Date(from).toISOString(), ...(chosen ? { recording: chosen } : {}) });
      if (fresh) list.replaceChildren();
      for (const e of r.events) {
        const li = document.createElement("li");
        li.dataset.type = e.type;
        const t = document.createElement("time");
        t.dateTime = e.at; t.textContent = new Date(e.at).toLocaleString();
        const play = document.createElement("button");
        play.type = "button"; play.textContent = "Play";
        play.setAttribute("aria-label", "Play " + e.what + " at " + t.textContent);
        play.addEventListener("click", () => playFrom(Date.parse(e.at) - before));
        li.append(t, " " + e.what, play);
        list.append(li);
      }
      next = r.next; more.hidden = !next; found.hidden = false;
      const n = list.children.length, when = new Date(since).toLocaleString();
      said.textContent = n
        ? n + (n === 1 ? " event" : " events") + " in the recording from " + when + " on" + (next ? ", and more: Find more." : ".")
        : "Nothing in the recording from " + when + " on: no motion, tampering or alarm input.";
    } catch (e) { said.textContent = e.message; }
    finally { find.disabled = more.disabled = false; find.removeAttribute("aria-busy"); }
  };
  find.addEventListener("click", () => {
    const at = new Date(input.value);
    if (!replay || isNaN(at.getTime())) { said.textContent = "Choose when to look from."; return; }
    since = at.getTime();
    search(since, true);
  });
  more.addEventListener("click", () => { if (next) search(Date.parse(next), false); });
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    // A datetime-local value without a zone is read in this browser's own.
    const at = new Date(input.value);
    if (replay && !isNaN(at.getTime())) playFrom(at.getTime());
  });
  // An alert's "Play the recording": from a few seconds before it.
  for (const b of document.querySelectorAll("[data-replay-at]")) {
    b.addEventListener("click", async () => { if (await ask()) playFrom(Date.parse(b.dataset.replayAt)); });
  }
  // A minute of the recording from the instant at (ISO), as a file (once the camera said where).
  const saveClip = async (at) => {
    if (!(await ask())) return;
    const q = new URLSearchParams({ path: replay, from: at, seconds: box.dataset.clipSeconds });
    download(box.dataset.clip + "?" + q);
    said.textContent = "Saving " + Math.round(Number(box.dataset.clipSeconds) / 60) + " min of the recording from " +
      new Date(at).toLocaleString() + " as a file: a camera that can send its recording faster than it plays sends it at once, others as it plays.";
  };
  // An alert's "Save a clip": a minute of the recording from a few seconds before it.
  for (const b of document.querySelectorAll("[data-clip-at]")) b.addEventListener("click", () => saveClip(b.dataset.clipAt));
  // Opened from an alert's link: played from just before it at once, or (the Events page's
  // "Save a clip") saved from there.
  if (box.dataset.at && box.dataset.atSave !== undefined) saveClip(box.dataset.at);
  else if (box.dataset.at) ask().then((ok) => { if (ok) playFrom(Date.parse(box.dataset.at)); });
}
// Moving in a played recording: the instant on the screen ticks; back, on and pause each end
// the camera's session and ask it afresh from the instant wanted (a pause, once played on).
for (const nav of document.querySelectorAll(".recording-nav")) {
  const video = document.querySelector("video[data-live][data-from]");
  const at = nav.querySelector("#recording-at");
  const moved = nav.querySelector("#recording-moved");
  const pause = nav.querySelector("[data-recording-pause]");
  const paused = () => pause.getAttribute("aria-pressed") === "true";
  // The slider: the hour around the instant placed (never past now), its thumb on the instant on
  // the screen unless held, the camera's events of that hour marked (asked once per hour shown).
  const seek = nav.querySelector("#recording-seek");
  const seekAt = nav.querySelector("#recording-seek-at");
  const marks = nav.querySelector("#recording-marks");
  const SPAN = 1800;
  let held = false, marked = null;
  const mark = async (from, until) => {
    marked = [from, until];
    const recording = new URLSearchParams(location.search).get("recording");
    try {
      const r = await postJson(nav.dataset.recordingEvents, {
        from: isoSecond(from * 1000), until: isoSecond(until * 1000), ...(recording ? { recording } : {}),
      });
      marks.replaceChildren(...r.events.map((e) => {
        const o = document.createElement("option");
        o.value = String(Math.floor(Date.parse(e.at) / 1000)); o.label = e.what;
        return o;
      }));
    } catch { /* a camera that cannot search its recording: no marks */ }
  };
  const frame = (ms) => {
    const s = Math.floor(ms / 1000), now = Math.floor(Date.now() / 1000) - 1;
    seek.min = String(s - SPAN); seek.max = String(Math.min(s + SPAN, now));
    if (!marked || s - SPAN < marked[0] || Math.min(s + SPAN, now) > marked[1]) mark(s - SPAN, Math.min(s + SPAN, now));
  };
  const when = (s) => new Date(s * 1000).toLocaleTimeString();
  const show = (ms) => {
    at.dateTime = isoSecond(ms); at.textContent = new Date(isoSecond(ms)).toLocaleString();
    if (held) return;
    seek.value = String(Math.floor(ms / 1000));
    seek.setAttribute("aria-valuetext", at.textContent); seekAt.textContent = when(Number(seek.value));
  };
  frame(replayPosition(video));
  show(replayPosition(video));
  setInterval(() => { if (!paused()) show(replayPosition(video)); }, 500);
  seek.addEventListener("input", () => {
    held = true;
    seekAt.textContent = when(Number(seek.value));
    seek.setAttribute("aria-valuetext", new Date(Number(seek.value) * 1000).toLocaleString());
  });
  // Plays from the instant ms (never one still to come).
  const playAt = (ms) => {
    halt(video);
    placeAt(video, Math.min(ms, Date.now() - 1000));
    pause.setAttribute("aria-pressed", "false");
    held = false;
    frame(Date.parse(video.dataset.from));
    show(Date.parse(video.dataset.from));
    play(video);
  };
  // Let go (or moved by its keys): played from there.
  seek.addEventListener("change", () => {
    playAt(Number(seek.value) * 1000);
    moved.textContent = "Playing from " + new Date(video.dataset.from).toLocaleString() + ".";
  });
  for (const b of nav.querySelectorAll("[data-recording-seek]")) {
    b.addEventListener("click", () => {
      playAt(replayPosition(video) + Number(b.dataset.recordingSeek) * 1000);
      moved.textContent = "Playing from " + new Date(video.dataset.from).toLocaleString() + ".";
    });
  }
  // "Save a clip from here": the recording from the instant on the screen, as a file.
  const clip = nav.querySelector("[data-recording-clip]");
  const length = nav.querySelector("#recording-clip-length");
  clip.addEventListener("click", () => {
    const from = isoSecond(replayPosition(video));
    const q = new URLSearchParams({ path: video.dataset.path, from, seconds: length.value });
    download(clip.dataset.recordingClip + "?" + q);
    moved.textContent = "Saving " + length.selectedOptions[0].textContent + " from " + new Date(from).toLocaleString() +
      " as a file: a camera that can send its recording faster than it plays sends it at once, others as it plays." +
      " Your browser shows the download.";
  });
  // "Speed": played on from the instant on the screen, that many times faster (kept by the page's
  // address).
  const speed = nav.querySelector("#recording-speed");
  speed.addEventListener("change", () => {
    if (speed.value === "1") delete video.dataset.speed; else video.dataset.speed = speed.value;
    const q = new URLSearchParams(location.search);
    if (speed.value === "1") q.delete("speed"); else q.set("speed", speed.value);
    history.replaceState(null, "", "?" + q);
    playAt(paused() ? Date.parse(video.dataset.from) : replayPosition(video));
    moved.textContent = "Playing from " + new Date(video.dataset.from).toLocaleString() + " " +
      (speed.value === "1" ? "as it happened." : speed.value + " times faster than it happened.");
  });
  // Keys, as video players have them: Space pauses and plays on, ← and → move 30 s, < and >
  // change the speed; never while typing or choosing (the slider and selects keep their arrows),
  // and Space on a focused button is that button's.
  const seekBy = (sign) => [...nav.querySelectorAll("[data-recording-seek]")].find((b) => Math.sign(Number(b.dataset.recordingSeek)) === sign);
  document.addEventListener("keydown", (e) => {
    const t = e.target;
    if (e.ctrlKey || e.metaKey || e.altKey || t.closest?.("input, select, textarea, [contenteditable]")) return;
    const press = (b) => { e.preventDefault(); b.click(); };
    if (e.key === " ") { if (!t.closest?.("button, a")) press(pause); }
    else if (e.key === "ArrowLeft") press(seekBy(-1));
    else if (e.key === "ArrowRight") press(seekBy(1));
    else if (e.key === ">" || e.key === "<") {
      const i = speed.selectedIndex + (e.key === ">" ? 1 : -1);
      if (i < 0 || i >= speed.options.length) return;
      e.preventDefault(); speed.selectedIndex = i; speed.dispatchEvent(new Event("change"));
    }
  });
  pause.addEventListener("click", () => {
    if (paused()) {
      playAt(Date.parse(video.dataset.from));
      moved.textContent = "Playing on from " + new Date(video.dataset.from).toLocaleString() + ".";
      return;
    }
    const ms = replayPosition(video);
    halt(video);
    video.pause();
    placeAt(video, ms);
    show(Date.parse(video.dataset.from));
    pause.setAttribute("aria-pressed", "true");
    video.dataset.state = "paused"; video.dataset.reason = "";
    const pausedAt = new Date(video.dataset.from).toLocaleString();
    say(video, "Paused at " + pausedAt + ".");
    moved.textContent = "Paused at " + pausedAt + ": the camera is not asked for pictures until you play on.";
  });
}
// "Record a clip": the next minutes of the live picture as a file, the browser's download.
for (const b of document.querySelectorAll("[data-record-clip]")) {
  b.addEventListener("click", () => {
    const v = document.querySelector("video[data-live]");
    const length = document.getElementById("record-length");
    download(b.dataset.recordClip + "?" + new URLSearchParams({ path: v.dataset.path || "/", seconds: length.value }));
    document.getElementById("record-said").textContent = "Recording the next " + length.selectedOptions[0].textContent +
      " of the live picture as a file: it takes that long. Your browser shows the download.";
  });
}
// "Save the picture": the video's picture as a JPEG, named by the camera and the instant shown.
// Pressed while the player starts (it says playing once the camera's stream is open, before its
// first picture is decoded), it waits up to 10 s for that picture rather than refuse.
const PICTURE_WAIT_MS = 10000;
for (const b of document.querySelectorAll("[data-save-picture]")) {
  b.addEventListener("click", () => {
    const said = document.getElementById("picture-said");
    const v = document.querySelector("video[data-live]");
    if (!v) { said.textContent = "There is no picture to save yet."; return; }
    if (v.readyState >= 2 && v.videoWidth) { savePicture(b, v, said); return; }
    said.textContent = "Waiting for the first picture…";
    const events = ["loadeddata", "canplay", "playing", "timeupdate"];
    const stop = () => { clearTimeout(timer); for (const e of events) v.removeEventListener(e, check); };
    const check = () => {
      if (v.readyState < 2 || !v.videoWidth) return;
      stop(); savePicture(b, v, said);
    };
    const timer = setTimeout(() => { stop(); said.textContent = "There is no picture to save yet."; }, PICTURE_WAIT_MS);
    for (const e of events) v.addEventListener(e, check);
  });
}
// Saves the picture on v as a JPEG named by the camera (b's label) and the instant shown.
function savePicture(b, v, said) {
  const c = document.createElement("canvas");
  c.width = v.videoWidth; c.height = v.videoHeight;
  c.getContext("2d").drawImage(v, 0, 0);
  const at = isoSecond(v.dataset.from ? replayPosition(v) : Date.now());
  const name = (b.dataset.savePicture.replace(/[^A-Za-z0-9._-]+/g, "-").replace(/^-+|-+$/g, "").slice(0, 48) || "camera") +
    "-" + at.replace(/[-:]/g, "") + ".jpg";
  c.toBlob((blob) => {
    if (!blob) { said.textContent = "This browser could not make a picture of it."; return; }
    const href = URL.createObjectURL(blob);
    download(href, name);
    setTimeout(() => URL.revokeObjectURL(href), 60000);
    said.textContent = "Saved " + name + " (" + c.width + "×" + c.height + ", " + new Date(at).toLocaleString() + ").";
  }, "image/jpeg", 0.92);
}
// "Full screen": the camera's picture alone on the screen (Esc leaves; the browser says so).
for (const b of document.querySelectorAll("[data-full-screen]")) {
  b.addEventListener("click", () => {
    const tile = document.querySelector(".live-tile");
    tile?.requestFullscreen?.().catch((e) => { document.getElementById("picture-said").textContent = e.message; });
  });
}
// "Turn sound on" / "Turn sound off": the camera's sound (the tile's video starts muted); M does
// the same on a page of one camera. In a grid one camera is heard at a time, as on a recorder's
// wall: turning one tile's sound on turns the others' off.
for (const b of document.querySelectorAll("[data-sound]")) {
  const video = b.closest(".live-tile").querySelector("video");
  b.addEventListener("click", () => {
    video.muted = !video.muted;
    b.textContent = video.muted ? "Turn sound on" : "Turn sound off";
    if (video.muted) return;
    for (const other of document.querySelectorAll("[data-sound]")) {
      if (other === b) continue;
      other.closest(".live-tile").querySelector("video").muted = true;
      other.textContent = "Turn sound on";
    }
  });
}
if (document.querySelectorAll("[data-sound]").length === 1) {
  document.addEventListener("keydown", (e) => {
    const t = e.target;
    if ((e.key !== "m" && e.key !== "M") || e.ctrlKey || e.metaKey || e.altKey) return;
    if (t.closest?.("input, select, textarea, [contenteditable]")) return;
    const b = document.querySelector("[data-sound]");
    if (!b.hidden) b.click();
  });
}
// A grid's tile on the whole screen: its "Full screen", or a double click on its picture (again,
// or Esc, to leave).
for (const b of document.querySelectorAll("[data-tile-full-screen]")) {
  const tile = b.closest(".live-tile");
  const full = () => document.fullscreenElement === tile
    ? document.exitFullscreen()
    : tile.requestFullscreen().catch((e) => { tile.querySelector(".live-status").textContent = e.message; });
  b.addEventListener("click", full);
  tile.querySelector("video").addEventListener("dblclick", full);
}
// A wall monitor's grid turning its pages: chosen here (kept in the address), each page shown
// that long, then the next (the last turns to the first).
const cycle = document.getElementById("grid-cycle");
if (cycle) {
  cycle.addEventListener("change", () => {
    const q = new URLSearchParams(location.search);
    if (cycle.value === "0") q.delete("cycle"); else q.set("cycle", cycle.value);
    location.search = "?" + q;
  });
  // A tile on the whole screen holds the page until it leaves (Esc), then the page turns.
  const turn = () => {
    if (document.fullscreenElement) return document.addEventListener("fullscreenchange", turn, { once: true });
    location.href = cycle.dataset.next;
  };
  if (Number(cycle.value) > 0) setTimeout(turn, Number(cycle.value) * 1000);
}
// "Ask the camera (ONVIF)" on a page without a stream path: play the one the camera gives.
for (const b of document.querySelectorAll("button[data-onvif]")) {
  b.addEventListener("click", async () => {
    const said = document.getElementById("onvif-said");
    b.disabled = true; b.setAttribute("aria-busy", "true");
    try {
      const csrf = document.querySelector('meta[name="csrf-token"]')?.content ?? "";
      const r = await fetch(b.dataset.onvif, { method: "POST", credentials: "same-origin", headers: { "x-csrf-token": csrf } });
      const j = await r.json().catch(() => ({}));
      if (r.ok && j.streamPath) { location.search = "?" + new URLSearchParams({ path: j.streamPath }); return; }
      said.textContent = r.ok ? "The camera answered over ONVIF but gave no stream path." : (j.message || "HTTP " + r.status);
    } catch (e) { said.textContent = e.message; }
    finally { b.disabled = false; b.removeAttribute("aria-busy"); }
  });
}
`;
