/**
 * The live view's player script, served at /ui/live.js: every `<video data-live>` on the page
 * opens `GET /api/live/{handle}?path=…` as a WebSocket and feeds the fMP4 it receives to Media
 * Source Extensions (`video/mp4; codecs="avc1.PPCCLL"` from the camera's SPS). It stays near the
 * live edge (jumps forward when more than half a second behind), trims old buffer, and says plainly
 * why it stopped (revoked credentials, camera gone, a browser without MSE such as iOS Safari).
 * `data-state` on the video (connecting, playing, closed, unsupported) is what tests look at.
 * @module
 */

/** The script. */
export const LIVE_JS = `
function say(video, text) {
  const s = video.closest("figure")?.querySelector(".live-status");
  if (s) s.textContent = text;
}
function play(video) {
  const proto = location.protocol === "https:" ? "wss:" : "ws:";
  const url = proto + "//" + location.host + "/api/live/" + encodeURIComponent(video.dataset.live) +
    "?path=" + encodeURIComponent(video.dataset.path || "/");
  video.dataset.state = "connecting"; say(video, "Connecting…");
  const ws = new WebSocket(url);
  ws.binaryType = "arraybuffer";
  let sb = null; const queue = [];
  const pump = () => { if (sb && !sb.updating && queue.length) { try { sb.appendBuffer(queue.shift()); } catch (e) { say(video, "Playback error: " + e.message); ws.close(); } } };
  const follow = () => {
    const b = video.buffered; if (!b.length) return;
    const end = b.end(b.length - 1);
    if (video.currentTime < b.start(0) || end - video.currentTime > 0.5) video.currentTime = Math.max(b.start(b.length - 1), end - 0.1);
    if (video.paused) video.play().catch(() => {});
    if (!sb.updating && video.currentTime - b.start(0) > 20) sb.remove(b.start(0), video.currentTime - 5);
  };
  ws.onmessage = (ev) => {
    if (typeof ev.data === "string") {
      const m = JSON.parse(ev.data);
      if (m.type === "origin") { video.dataset.origin = String(m.originMs); return; }
      const type = 'video/mp4; codecs="' + m.codec + '"';
      if (!window.MediaSource || !MediaSource.isTypeSupported(type)) {
        video.dataset.state = "unsupported";
        say(video, "This browser cannot play " + m.codec + " through Media Source Extensions (iOS Safari has none): use the RTSP URL in a player.");
        ws.close(); return;
      }
      const ms = new MediaSource();
      video.src = URL.createObjectURL(ms);
      ms.addEventListener("sourceopen", () => {
        sb = ms.addSourceBuffer(type); sb.mode = "segments";
        sb.addEventListener("updateend", () => { follow(); pump(); });
        pump();
      }, { once: true });
      video.dataset.state = "playing"; say(video, m.width + "×" + m.height + " " + m.codec);
      return;
    }
    queue.push(ev.data);
    if (queue.length > 120) queue.splice(0, queue.length - 60);
    pump();
  };
  ws.onclose = (ev) => {
    if (video.dataset.state !== "unsupported") video.dataset.state = "closed";
    video.dataset.reason = ev.reason || "";
    say(video, "Stopped: " + (ev.reason || "the connection closed") + ".");
  };
}
for (const v of document.querySelectorAll("video[data-live]")) play(v);
`;
