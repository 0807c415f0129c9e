/**
 * Camera thumbnails on the site page, served at /ui/thumbs.js. Most cameras have no snapshot URL
 * the cloud knows, but every one the live view plays has pictures: for each `<canvas
 * data-thumb="{handle}">` in view, the script opens the live view's WebSocket (`GET
 * /api/live/{handle}?path=…`, the same access rules, and a joiner of a running camera session
 * costs the camera nothing), feeds the init segment and the first pictures to a hidden video
 * through Media Source Extensions, draws the first decodable picture (a keyframe: the live view
 * starts every viewer on one) into the canvas and closes the socket. It repeats every 30 s while
 * the thumbnail is on screen and the tab is visible, two cameras at a time, and never while
 * hidden. A thumbnail that gets no picture says why on the canvas itself (over the last picture,
 * or in place of one): a browser never learns why an upgrade was refused, so it asks the same URL
 * without upgrading, as the live player does ("agent reconnecting", the camera's 404 for the
 * path); so does its `aria-label`, for a screen reader. `data-state` on the canvas (loading, ok,
 * failed), `data-reason` and `data-at` (the time of the last picture) are what tests look at;
 * `window.__ncThumbSeconds` shortens the period.
 * @module
 */
import { REFUSAL_JS } from "./refusal.ts";
import { WS_PROOF_JS } from "./ws_proof.ts";
import { CODEC_WORDS_JS } from "./codec_words.ts";

/** The script. */
export const THUMBS_JS = `${REFUSAL_JS}${WS_PROOF_JS}${CODEC_WORDS_JS}
const PERIOD = (window.__ncThumbSeconds || 30) * 1000;
const PARALLEL = 2;
const visible = new Set();
const queue = [];
let running = 0;

function liveUrl(canvas) {
  const path = canvas.dataset.path ? "?path=" + encodeURIComponent(canvas.dataset.path) : "";
  return "/api/live/" + encodeURIComponent(canvas.dataset.thumb) + path;
}

// "No picture: <why>" on the canvas: across the bottom of the last picture, or the whole box.
function sayOnCanvas(canvas, text) {
  const g = canvas.getContext("2d");
  const W = canvas.width, pad = 6, line = 13;
  g.font = "11px system-ui, sans-serif";
  const lines = [];
  let cur = "";
  for (const word of ("No picture: " + text).split(" ")) {
    const t = cur ? cur + " " + word : word;
    if (cur && g.measureText(t).width > W - 2 * pad) { lines.push(cur); cur = word; } else cur = t;
  }
  if (cur) lines.push(cur);
  const shown = lines.slice(0, Math.max(1, Math.floor((canvas.height - pad) / line)));
  const h = canvas.dataset.at ? shown.length * line + pad : canvas.height;
  g.fillStyle = canvas.dataset.at ? "rgba(16,24,40,.78)" : "#101828";
  g.fillRect(0, canvas.height - h, W, h);
  g.fillStyle = "#fff";
  g.textBaseline = "top";
  shown.forEach((l, i) => g.fillText(l, pad, canvas.height - h + pad / 2 + i * line));
}

function grab(canvas) {
  return new Promise((resolve) => {
    const proto = location.protocol === "https:" ? "wss:" : "ws:";
    const ws = new WebSocket(proto + "//" + location.host + liveUrl(canvas), proofProtocols("nc-live"));
    ws.binaryType = "arraybuffer";
    const video = document.createElement("video");
    video.muted = true; video.playsInline = true;
    let sb = null, url = null, done = false, opened = false;
    const queued = [];
    const finish = (state, reason) => {
      if (done) return; done = true;
      clearTimeout(timer);
      try { ws.close(); } catch {}
      if (url) URL.revokeObjectURL(url);
      video.removeAttribute("src");
      canvas.dataset.state = state;
      if (state === "failed") {
        canvas.dataset.reason = reason;
        canvas.title = canvas.dataset.name + ": no picture: " + reason;
        canvas.setAttribute("aria-label", "No picture from " + canvas.dataset.name + ": " + reason);
        sayOnCanvas(canvas, reason);
      } else {
        delete canvas.dataset.reason;
        canvas.setAttribute("aria-label", "Latest picture of " + canvas.dataset.name);
      }
      resolve();
    };
    const timer = setTimeout(() => finish("failed", "no picture within 15 s"), 15000);
    const pump = () => {
      if (!sb || sb.updating || !queued.length) return;
      try { sb.appendBuffer(queued.shift()); } catch (e) { finish("failed", e.message); }
    };
    const draw = () => {
      if (done || video.readyState < 2) return;
      // Keep the camera's aspect ratio: the canvas is 160 px wide, as high as the picture says.
      const h = Math.round(canvas.width * video.videoHeight / video.videoWidth);
      if (h > 0 && h <= 4 * canvas.width && canvas.height !== h) canvas.height = h;
      const g = canvas.getContext("2d");
      g.drawImage(video, 0, 0, canvas.width, canvas.height);
      canvas.dataset.at = String(Date.now());
      canvas.title = canvas.dataset.name + ": picture of " + new Date().toLocaleTimeString();
      finish("ok");
    };
    // Draw a frame the browser has actually presented: right after "loadeddata" a canvas may
    // still get a blank picture from a decoder that has not painted yet. The hidden video plays
    // (muted) and the first presented frame is drawn; without requestVideoFrameCallback, the
    // first "loadeddata"/"seeked" is the fallback.
    const onFrame = () => {
      if (!done && video.readyState < 2) video.requestVideoFrameCallback(onFrame);
      else draw();
    };
    if ("requestVideoFrameCallback" in video) video.requestVideoFrameCallback(onFrame);
    else {
      video.addEventListener("loadeddata", draw);
      video.addEventListener("seeked", draw);
    }
    ws.onmessage = (ev) => {
      if (typeof ev.data === "string") {
        const m = JSON.parse(ev.data);
        if (m.type !== "init") return;
        const type = 'video/mp4; codecs="' + m.codec + '"';
        if (!window.MediaSource || !MediaSource.isTypeSupported(type)) return finish("failed", "this browser cannot play " + codecWords(m.codec));
        const ms = new MediaSource();
        url = URL.createObjectURL(ms);
        video.src = url;
        ms.addEventListener("sourceopen", () => {
          sb = ms.addSourceBuffer(type); sb.mode = "segments";
          sb.addEventListener("updateend", () => {
            const b = sb.buffered;
            if (b.length && video.currentTime < b.start(0)) video.currentTime = b.start(0);
            if (b.length && video.paused) video.play().catch(() => {});
            pump();
          });
          pump();
        }, { once: true });
        return;
      }
      queued.push(ev.data);
      pump();
    };
    ws.onopen = () => { opened = true; };
    ws.onclose = (ev) => {
      if (done) return;
      if (ev.reason || opened) return finish("failed", ev.reason || "the camera's stream closed");
      refusalOf(liveUrl(canvas)).then((w) => finish("failed", w.text));
    };
    canvas.dataset.state = canvas.dataset.state === "ok" ? "ok" : "loading";
  });
}

function next() {
  while (running < PARALLEL && queue.length) {
    const c = queue.shift();
    running++;
    c.dataset.busy = "1";
    grab(c).finally(() => {
      running--; delete c.dataset.busy;
      c.dataset.due = String(Date.now() + PERIOD); next();
    });
  }
}

function tick() {
  if (document.visibilityState !== "visible") return;
  const now = Date.now();
  for (const c of visible) {
    if (!queue.includes(c) && Number(c.dataset.due || 0) <= now && c.dataset.busy !== "1") queue.push(c);
  }
  next();
}

const seen = new IntersectionObserver((entries) => {
  for (const e of entries) (e.isIntersecting ? visible.add(e.target) : visible.delete(e.target));
  tick();
});
for (const c of document.querySelectorAll("canvas[data-thumb]")) seen.observe(c);
document.addEventListener("visibilitychange", tick);
setInterval(tick, 1000);
`;
