/**
 * The web UI's assets, served from the executable itself (so they work under
 * `deno compile` with no files beside it): one stylesheet, one small vanilla module (and the live view's player, live_player.ts). The module
 * turns `data-*` attributes into behaviour — forms and buttons that call the JSON API with the
 * antiforgery header, confirmations, one-shot secret dialogs, copy buttons, toasts, and fragments
 * that refresh themselves every few seconds — so pages stay server-rendered and the API stays the
 * one place where rules are enforced.
 * @module
 */
import { Hono } from "hono";
import { LIVE_JS } from "./live_player.ts";
import { EVENT_LABELS } from "../events/labels.ts";
import { THUMBS_JS } from "./thumbnails.ts";
import { CLOCK_SPAN_JS } from "./clock_span.ts";

/** The stylesheet. */
export const APP_CSS = `
:root{--bg:#f4f5f7;--fg:#1d2330;--muted:#4f586b;--line:#d5d9e2;--card:#fff;--accent:#1f5eff;--ok:#137a3a;--bad:#b42318;--warn:#8a5a00}
*{box-sizing:border-box}body{margin:0;font-family:system-ui,-apple-system,"Segoe UI",sans-serif;background:var(--bg);color:var(--fg);line-height:1.45}
a{color:var(--accent)}a:focus-visible,button:focus-visible,input:focus-visible,select:focus-visible{outline:3px solid #f5b700;outline-offset:2px}
header.top{display:flex;align-items:center;gap:.6rem;background:#101828;color:#fff;padding:.6rem 1.2rem;flex-wrap:wrap}
header.top .brand{font-weight:700;color:#fff;text-decoration:none;margin-right:.2rem;white-space:nowrap}
header.top nav{display:flex;gap:.1rem;flex-wrap:wrap;flex:1}header.top nav a{color:#d0d5dd;text-decoration:none;padding:.35rem .3rem;border-radius:4px;white-space:nowrap;font-size:.9rem}
header.top nav a[aria-current=page],header.top nav a:hover{background:#344054;color:#fff}
header.top .who{display:flex;gap:.5rem;align-items:center;font-size:.9rem}.who .email{max-width:8rem;overflow:hidden;text-overflow:ellipsis;white-space:nowrap}header.top select{padding:.2rem}
main{max-width:76rem;margin:1.2rem auto;padding:0 1rem}h1{font-size:1.5rem;margin:.2rem 0 1rem}h2{font-size:1.15rem;margin:1.6rem 0 .6rem}
.card{background:var(--card);border:1px solid var(--line);border-radius:8px;padding:1rem 1.2rem;margin-bottom:1rem}
.grid{display:grid;grid-template-columns:repeat(auto-fit,minmax(12rem,1fr));gap:1rem}.stat{font-size:2rem;font-weight:700}.stat-label{color:var(--muted)}
table{width:100%;border-collapse:collapse;background:var(--card)}th,td{text-align:left;padding:.5rem .6rem;border-bottom:1px solid var(--line);vertical-align:top}th{font-size:.85rem;color:var(--muted)}
.table-wrap{overflow-x:auto;border:1px solid var(--line);border-radius:8px}.with-actions td:last-child,.with-actions th:last-child{position:sticky;right:0;background:#fff;box-shadow:-6px 0 6px -6px #0003}time{white-space:nowrap}.wrap-anywhere{overflow-wrap:anywhere;min-width:12rem}
button,.button{display:inline-block;font:inherit;padding:.45rem .9rem;border-radius:5px;border:1px solid var(--accent);background:var(--accent);color:#fff;cursor:pointer;text-decoration:none}
button.secondary,.button.secondary{background:#fff;color:var(--accent)}button.danger{background:var(--bad);border-color:var(--bad)}button.small{padding:.2rem .5rem;font-size:.85rem}
button:disabled{opacity:.6;cursor:wait}
label{display:block;font-weight:600;margin:.6rem 0 .25rem}input,select,textarea{font:inherit;padding:.45rem;border:1px solid #8a93a6;border-radius:4px;width:100%;max-width:28rem}
input[type=checkbox]{width:auto}.inline{display:flex;gap:.6rem;align-items:flex-end;flex-wrap:wrap}.inline label{margin-top:0}.site-filter{align-items:center}.site-filter label{margin:0}.site-filter select{width:auto;min-width:12rem}
.pill{display:inline-block;padding:.15rem .55rem;border-radius:999px;border:1px solid var(--accent);color:var(--accent);background:#eef3ff;font-size:.85rem;margin:0 .25rem .25rem 0;text-decoration:none;cursor:pointer}
.cert-warn{color:var(--bad);font-weight:600}
.port{display:inline-block;white-space:nowrap}.reach{font-size:.8rem;margin-right:.3rem}.reach.up{color:var(--ok)}.reach.down{color:var(--bad);font-weight:600}.reach.unknown{color:var(--muted)}
.badge{display:inline-block;min-width:1.2rem;padding:0 .35rem;margin-left:.25rem;border-radius:999px;background:var(--bad);color:#fff;font-size:.75rem;text-align:center}.badge[hidden]{display:none}
tr.unread td{font-weight:600}
.pill.rtsp{border-color:#6941c6;color:#6941c6;background:#f4f0ff}
.event-picture{display:block;margin-top:.3rem}.event-picture img{display:block;max-width:160px;height:auto;border-radius:4px;border:1px solid #d0d5dd}
nav.inline a[aria-current=page]{font-weight:600;color:inherit;text-decoration:none}
a.thumb{display:inline-block;vertical-align:middle;margin:0 .25rem .25rem 0}a.thumb canvas{display:block;width:160px;height:auto;border-radius:4px;background:#1d2939}.pill.other{border-color:var(--muted);color:var(--muted);background:#f2f4f7;cursor:help}
.warn{color:var(--warn);font-size:.9rem}.status{font-weight:600}.status.online{color:var(--ok)}.status.offline{color:var(--bad)}.muted{color:var(--muted)}.empty{color:var(--muted);padding:1rem;text-align:center}
code,.mono{font-family:ui-monospace,SFMono-Regular,Menlo,monospace;font-size:.9em}.secret{display:block;background:#101828;color:#e4e7ec;padding:.7rem;border-radius:6px;word-break:break-all;white-space:pre-wrap;margin:.5rem 0}
dialog{border:1px solid var(--line);border-radius:8px;max-width:40rem;width:92vw}dialog::backdrop{background:#10182880}
.toasts{position:fixed;right:1rem;bottom:1rem;display:flex;flex-direction:column;gap:.5rem;z-index:10}.toast{background:#101828;color:#fff;padding:.6rem 1rem;border-radius:6px;max-width:26rem;box-shadow:0 2px 8px #0004}.toast.error{background:var(--bad)}
footer.foot{text-align:center;color:var(--muted);font-size:.85rem;margin:2rem 0}
.spark{vertical-align:middle}.filters{display:grid;grid-template-columns:repeat(auto-fit,minmax(10rem,1fr));gap:.6rem;align-items:end}
@media (max-width:40rem){header.top{flex-direction:column;align-items:flex-start}th,td{padding:.4rem}
.table-wrap{overflow-x:visible}.table-wrap table,.table-wrap tbody,.table-wrap tr,.table-wrap td{display:block;width:100%}
.table-wrap thead{position:absolute;width:1px;height:1px;overflow:hidden;clip-path:inset(50%)}
.table-wrap tr{border-bottom:2px solid var(--line);padding:.3rem 0}.table-wrap td{border:0;overflow-wrap:anywhere}
.table-wrap td:last-child{position:static;box-shadow:none}.table-wrap td[data-label]::before{content:attr(data-label);display:block;font-size:.75rem;font-weight:600;color:var(--muted)}
.table-wrap td:empty{display:none}main{padding:0 .6rem}}
`;

/** The client module. */
export const APP_JS = `${CLOCK_SPAN_JS}
const csrf = document.querySelector('meta[name="csrf-token"]')?.content ?? "";
const toasts = document.querySelector(".toasts");
export function toast(text, error) {
  const t = document.createElement("div"); t.className = "toast" + (error ? " error" : "");
  t.setAttribute("role", error ? "alert" : "status"); t.textContent = text; toasts?.append(t);
  setTimeout(() => t.remove(), error ? 8000 : 4000);
}
export async function api(method, url, body) {
  const res = await fetch(url, { method, credentials: "same-origin",
    headers: { "x-csrf-token": csrf, ...(body === undefined ? {} : { "content-type": "application/json" }) },
    body: body === undefined ? undefined : JSON.stringify(body) });
  if (res.status === 401) { location.href = "/login?next=" + encodeURIComponent(location.pathname + location.search); throw new Error("signed out"); }
  const data = res.headers.get("content-type")?.includes("json") ? await res.json() : {};
  if (!res.ok) throw new Error(data.message || ("HTTP " + res.status));
  return data;
}
function fillText(template, data) { return template.replace(/\\{(\\w+)\\}/g, (_, k) => String(data[k] ?? "")); }
/** A toast that survives the reload or redirect that follows it. */
function toastAcross(text) { try { sessionStorage.setItem("nc-toast", text); } catch { toast(text); } }
{ const pending = sessionStorage.getItem("nc-toast"); if (pending) { sessionStorage.removeItem("nc-toast"); toast(pending); } }
// Times: the server renders UTC in the console's one format; here they become the viewer's
// time zone, in the same format ("2026-12-02 00:04 GMT+9"), relative ones keeping it on hover.
const pad = (n) => String(n).padStart(2, "0");
export function localTime(ms) {
  const d = new Date(ms);
  const zone = new Intl.DateTimeFormat("en-US", { timeZoneName: "short" }).formatToParts(d)
    .find((p) => p.type === "timeZoneName")?.value ?? "";
  return d.getFullYear() + "-" + pad(d.getMonth() + 1) + "-" + pad(d.getDate()) + " " + pad(d.getHours()) + ":" + pad(d.getMinutes()) + " " + zone;
}
// Narrow screens show each table row as a card: every cell gets its column's name.
function labelCells(root) {
  for (const t of root.querySelectorAll(".table-wrap table")) {
    const head = [...t.querySelectorAll("thead th")].map((th) => th.textContent.trim());
    for (const tr of t.querySelectorAll("tbody tr")) [...tr.children].forEach((td, i) => { if (head[i] && head[i] !== "Actions") td.dataset.label = head[i]; });
  }
}
labelCells(document);
// A time zone field left empty starts as the browser's own zone.
for (const el of document.querySelectorAll("input[data-default-tz]")) if (!el.value) { el.value = el.defaultValue = Intl.DateTimeFormat().resolvedOptions().timeZone; }
function localizeTimes(root) {
  for (const t of root.querySelectorAll("time[datetime]")) {
    const ms = Date.parse(t.getAttribute("datetime")); if (!Number.isFinite(ms)) continue;
    const local = localTime(ms);
    if (t.hasAttribute("data-local")) t.textContent = local;
    t.title = local;
  }
  // datetime-local filters: shown in local time, sent as UTC.
  for (const i of root.querySelectorAll("input[data-utc]")) {
    if (!i.value || i.dataset.localized) continue;
    const d = new Date(i.value + ":00Z"); i.dataset.localized = "1";
    if (Number.isFinite(d.getTime())) i.value = d.getFullYear() + "-" + pad(d.getMonth() + 1) + "-" + pad(d.getDate()) + "T" + pad(d.getHours()) + ":" + pad(d.getMinutes());
  }
}
localizeTimes(document);
document.addEventListener("submit", (e) => {
  for (const i of e.target.querySelectorAll?.("input[data-utc]") ?? []) {
    // An empty one is left out of the address (and back for the next submit).
    if (!i.value) { if (!i.disabled) { i.disabled = true; setTimeout(() => { i.disabled = false; }); } continue; }
    const h = document.createElement("input"); h.type = "hidden"; h.name = i.name;
    h.value = new Date(i.value).toISOString(); i.disabled = true; i.after(h);
    // The form's data is taken once this handler returns: put the input back for the next
    // submit (a download, such as the events export, leaves the page as it is).
    setTimeout(() => { h.remove(); i.disabled = false; });
  }
});
// Site pickers of a long list: typing in input[data-site-search=ID] asks the API for up to 20
// sites whose name matches and lists them as checkboxes in #ID beside the ones already ticked;
// input[data-site-options=ID] puts them in the <select id=ID> beside "Any" and the one chosen.
let siteSearch = { timer: 0, seq: 0 };
document.addEventListener("input", (e) => {
  const i = e.target.closest?.("input[data-site-search], input[data-site-options]");
  if (!i) return;
  clearTimeout(siteSearch.timer);
  siteSearch.timer = setTimeout(async () => {
    const seq = ++siteSearch.seq;
    const q = i.value.trim();
    const r = q ? await fetch("/api/sites?limit=20&q=" + encodeURIComponent(q), { headers: { accept: "application/json" } }).catch(() => null) : null;
    const found = r?.ok ? (await r.json()).items : [];
    if (seq !== siteSearch.seq) return; // a newer search answered or will
    if (i.dataset.siteOptions) {
      const sel = document.getElementById(i.dataset.siteOptions);
      for (const o of [...sel.options]) if (o.value && !o.selected) o.remove();
      const have = new Set([...sel.options].map((o) => o.value));
      for (const s of found) if (!have.has(s.id)) sel.add(new Option(s.name, s.id));
      return;
    }
    const box = document.getElementById(i.dataset.siteSearch);
    for (const l of [...box.querySelectorAll("label")]) if (!l.querySelector("input").checked) l.remove();
    const have = new Set([...box.querySelectorAll("input")].map((x) => x.value));
    for (const s of found) {
      if (have.has(s.id)) continue;
      const l = document.createElement("label"); l.style.fontWeight = "400";
      const c = document.createElement("input");
      c.type = "checkbox"; c.name = "siteIds"; c.dataset.type = "list"; c.value = s.id;
      l.append(c, " " + s.name); box.append(l);
    }
  }, 200);
});
function fill(template, data) { return template.replace(/\\{(\\w+)\\}/g, (_, k) => encodeURIComponent(data[k] ?? "")); }
function formJson(form) {
  const out = {};
  for (const el of form.elements) {
    if (!el.name || el.disabled || el.type === "submit") continue;
    const kind = el.dataset.type;
    if (el.type === "checkbox") {
      if (kind === "list") { out[el.name] = out[el.name] ?? []; if (el.checked) out[el.name].push(el.value); }
      else out[el.name] = el.checked;
      continue;
    }
    const v = el.value.trim();
    if (v === "") continue;
    if (kind === "int-list") out[el.name] = v.split(/[\\s,]+/).filter(Boolean).map(Number);
    else if (kind === "port-list") {
      // "80/http, 554/rtsp, 9000": the ports, and the protocols named (the server validates them).
      const ports = [], protocols = {};
      for (const t of v.split(/[\\s,]+/).filter(Boolean)) {
        const [n, proto] = t.split("/");
        ports.push(Number(n)); if (proto) protocols[n] = proto;
      }
      out[el.name] = ports;
      if (Object.keys(protocols).length) out[el.dataset.protocols || "protocols"] = protocols;
    }
    else if (kind === "list") out[el.name] = v.split(/[\\s,]+/).filter(Boolean);
    else if (kind === "int") out[el.name] = Number(v);
    else if (kind === "json") out[el.name] = JSON.parse(v);
    else out[el.name] = v;
  }
  // "schedule.from" and the like: one level of nesting ({schedule: {from}}).
  for (const k of Object.keys(out)) {
    const dot = k.indexOf("."); if (dot < 0) continue;
    const head = k.slice(0, dot); out[head] = out[head] ?? {}; out[head][k.slice(dot + 1)] = out[k]; delete out[k];
  }
  return out;
}
/** Fills a dialog shared by a list's rows: "@api" is its form's call, "@x" fills [data-slot=x], other keys are field values. */
function fillDialog(d, data) {
  const f = d.querySelector("form"); f?.reset();
  for (const [k, v] of Object.entries(data)) {
    if (k === "@api") { if (f) f.dataset.api = v; }
    else if (k.startsWith("@")) d.querySelectorAll("[data-slot=" + k.slice(1) + "]").forEach((el) => el.textContent = v);
    else { const el = f?.elements.namedItem(k); if (el) el.value = v; }
  }
}
function showSecret(title, text, note) {
  const d = document.getElementById("secret-dialog");
  d.querySelector("h2").textContent = title;
  d.querySelector(".secret").textContent = text;
  d.querySelector(".note").textContent = note || "Copy it now: it is never shown again.";
  d.showModal();
}
async function after(el, data) {
  const then = el.dataset.then || "reload";
  const said = el.dataset.toast ? fillText(el.dataset.toast, data) : "";
  if (said) (then === "reload" || then.startsWith("redirect:") ? toastAcross : toast)(said);
  if (then.startsWith("redirect:")) location.href = fill(then.slice(9), data);
  else if (then.startsWith("secret:")) {
    const [, field, title] = then.split(":");
    if (data[field] == null) { toastAcross(data.note || "Saved"); location.reload(); return; }
    showSecret(title || "Copy this now", data[field], data.note);
    document.getElementById("secret-dialog").addEventListener("close", () => location.reload(), { once: true });
  } else if (then.startsWith("call:")) window[then.slice(5)]?.(data, el);
  else if (then === "reload") location.reload();
}
/** The console's own confirmation (not the browser's confirm()): resolves true on Confirm. */
function ask(text) {
  const d = document.getElementById("confirm-dialog");
  if (!d) return Promise.resolve(confirm(text));
  d.querySelector("#confirm-text").textContent = text;
  return new Promise((resolve) => {
    const answer = (e) => {
      const b = e.target.closest("[data-confirm-answer]"); if (!b) return;
      d.removeEventListener("click", answer); d.close(); resolve(b.dataset.confirmAnswer === "yes");
    };
    d.addEventListener("click", answer);
    d.addEventListener("cancel", () => { d.removeEventListener("click", answer); resolve(false); }, { once: true });
    d.showModal();
  });
}
async function run(el, method, url, body) {
  if (el.dataset.confirm && !(await ask(el.dataset.confirm))) return;
  const busy = el.tagName === "FORM" ? el.querySelector("[type=submit]") : el;
  if (busy) busy.disabled = true;
  try { await after(el, await api(method, url, body)); }
  catch (e) { toast(e.message, true); }
  finally { if (busy) busy.disabled = false; }
}
document.addEventListener("submit", (e) => {
  const form = e.target.closest("form[data-api]"); if (!form) return;
  e.preventDefault();
  const [method, url] = form.dataset.api.split(" ");
  run(form, method, fill(url, formJson(form)), method === "DELETE" ? undefined : formJson(form));
});
document.addEventListener("click", async (e) => {
  const b = e.target.closest("button[data-api]");
  if (b) { const [method, url] = b.dataset.api.split(" "); run(b, method, url, b.dataset.body ? JSON.parse(b.dataset.body) : (method === "POST" ? {} : undefined)); return; }
  const c = e.target.closest("[data-copy]");
  if (c) { const src = document.getElementById(c.dataset.copy); await navigator.clipboard?.writeText(src?.textContent ?? "").catch(() => {}); toast("Copied"); return; }
  const o = e.target.closest("[data-open]");
  if (o) { const d = document.getElementById(o.dataset.open); if (d && o.dataset.fill) fillDialog(d, JSON.parse(o.dataset.fill)); d?.showModal(); return; }
  const x = e.target.closest("[data-close]");
  if (x) { x.closest("dialog")?.close(); return; }
  const r = e.target.closest("[data-rtsp]");
  if (r) {
    e.preventDefault();
    const d = document.getElementById("rtsp-dialog");
    if (!d) return mintRtsp(r, undefined);
    rtspPill = r;
    d.querySelector(".rtsp-target").textContent = r.dataset.rtspName || "";
    d.querySelector("[name=path]").value = r.dataset.rtspPath || "";
    d.querySelector("[name=subpath]").value = r.dataset.rtspSub || "";
    d.showModal();
  }
});
let rtspPill = null;
/** Mints a signed RTSP URL with the stream path asked for (the server remembers it, and the sub-stream path given) and shows it. */
async function mintRtsp(pill, path, subPath) {
  try {
    const data = await api("POST", pill.dataset.rtsp, path === undefined ? {} : { path, subPath });
    if (path !== undefined) { pill.dataset.rtspPath = path; pill.dataset.rtspSub = subPath; }
    await navigator.clipboard?.writeText(data.url).catch(() => {});
    const sub = data.subUrl ? " For a recorder's second, lighter stream, the camera's sub-stream: " + data.subUrl : "";
    showSecret("RTSP URL", data.url, "Copied to the clipboard. Paste it into VLC, ffmpeg or your VMS; it expires " + localTime(data.expiresAt) + "." + sub);
  } catch (err) { toast(err.message, true); }
}
// A device row's "Snooze 1 h" (and "Resume", data-minutes="0"): its alerts, from the site page.
document.addEventListener("click", async (e) => {
  const b = e.target.closest("button[data-snooze]"); if (!b) return;
  const resume = b.dataset.minutes === "0";
  b.disabled = true;
  try {
    await api("POST", "/api/devices/" + encodeURIComponent(b.dataset.snooze) + "/alerts/" + (resume ? "resume" : "snooze"), resume ? undefined : { minutes: 60 });
    toastAcross(resume ? "Alerts on again" : "Alerts snoozed for an hour: its events are still recorded, none is sent");
    location.reload();
  } catch (err) { toast(err.message, true); b.disabled = false; }
});
// "Mark these read" on a filtered Events page: how many, and whether to press again.
window.ncEventsMarked = (data) => {
  const text = data.marked === 0 ? "Nothing here was unread" : (data.marked === 1 ? "1 event" : data.marked.toLocaleString() + " events") + " marked read";
  toastAcross(text + (data.more ? "; more are unread here: press the button again" : "")); location.reload();
};
// "Ask the cameras for their stream paths": what the site-wide ask found, and the first reason one did not.
window.ncOnvifAsked = (data) => {
  const failed = (data.items || []).filter((i) => i.error);
  let text = data.asked ? data.found + " of " + data.asked + " cameras gave their stream path" : "Every RTSP port has its stream path already";
  if (failed.length) text += "; " + failed[0].host + " :" + failed[0].port + ": " + failed[0].error + (failed.length > 1 ? " (and " + (failed.length - 1) + " more)" : "");
  if (data.remaining) text += "; " + data.remaining + " more to ask: press the button again";
  toastAcross(text); location.reload();
};
// "Set the cameras' clocks": how many were off and are set now (the farthest off named), and the
// first that did not answer.
window.ncClocksSet = async (data, el) => {
  // Every camera of the site, 64 a request: the rest asked at once, the button busy meanwhile.
  const url = el.dataset.api.split(" ")[1];
  const items = [...(data.items || [])];
  el.disabled = true; el.setAttribute("aria-busy", "true");
  try {
    while (data.next !== null && data.next !== undefined) {
      data = await api("POST", url + "?offset=" + data.next);
      items.push(...(data.items || []));
    }
  } catch (e) {
    toastAcross("Stopped after " + items.length + " cameras: " + e.message); location.reload(); return;
  }
  const failed = items.filter((i) => i.error);
  const set = items.filter((i) => i.set).sort((a, b) => Math.abs(b.offsetSeconds) - Math.abs(a.offsetSeconds));
  let text = !items.length ? "The site has no cameras"
    : set.length ? set.length + " of " + items.length + " cameras' clocks were off and are set now (" + set[0].host + " was " + clockSpan(set[0].offsetSeconds) + ")"
    : "No clock needed setting (" + (items.length - failed.length) + " of " + items.length + " cameras answered)";
  if (failed.length) text += "; " + failed[0].host + " :" + failed[0].port + ": " + failed[0].error + (failed.length > 1 ? " (and " + (failed.length - 1) + " more)" : "");
  toastAcross(text); location.reload();
};
// "Ask the camera (ONVIF)": the cloud asks it for its stream path, remembers it, and it fills the box.
document.addEventListener("click", async (e) => {
  const b = e.target.closest("[data-onvif-ask]"); if (!b || !rtspPill) return;
  const input = b.closest("form").querySelector("[name=path]");
  const sub = b.closest("form").querySelector("[name=subpath]");
  b.disabled = true; b.setAttribute("aria-busy", "true");
  try {
    const data = await api("POST", rtspPill.dataset.rtsp.slice(0, -"rtsp-url".length) + "onvif");
    if (data.subStreamPath || data.streamPath) { sub.value = data.subStreamPath || data.streamPath; rtspPill.dataset.rtspSub = sub.value; }
    if (data.streamPath) { input.value = data.streamPath; rtspPill.dataset.rtspPath = data.streamPath; toast("The camera gave its stream path: " + data.streamPath + (data.subStreamPath ? " (sub-stream " + data.subStreamPath + ")" : "")); }
    else toast("The camera answered over ONVIF but gave no stream path", true);
  } catch (err) { toast(err.message, true); } finally { b.disabled = false; b.removeAttribute("aria-busy"); }
});
document.addEventListener("submit", (e) => {
  const f = e.target.closest("#rtsp-form"); if (!f || !rtspPill) return;
  e.preventDefault(); f.closest("dialog").close();
  mintRtsp(rtspPill, f.querySelector("[name=path]").value.trim(), f.querySelector("[name=subpath]").value.trim());
});
document.addEventListener("change", (e) => {
  const s = e.target.closest("select[data-tenant-picker]"); if (!s) return;
  api("POST", "/api/auth/tenant", { tenantId: s.value }).then(() => location.href = "/", (err) => toast(err.message, true));
});
for (const el of document.querySelectorAll("[data-poll]")) {
  setInterval(async () => {
    if (document.hidden) return;
    try { const r = await fetch(el.dataset.poll, { credentials: "same-origin" });
      if (r.status === 401) return location.reload();
      if (r.ok) { el.innerHTML = await r.text(); localizeTimes(el); labelCells(el); } } catch {}
  }, Number(el.dataset.every || 4000));
}
function esc(s) { return String(s ?? "").replace(/[&<>"']/g, (c) => "&#" + c.charCodeAt(0) + ";"); }
window.ncDiscovery = (data, form) => {
  const site = form.querySelector("[name=site]").value;
  const box = document.getElementById("discovery-results");
  const found = data.devices || [];
  const flood = data.ignored > 0 ? '<p class="warn" role="status" data-ignored>' + esc(Number(data.ignored).toLocaleString()) + (data.ignored === 1 ? " reply" : " replies") + " past what one discovery reads were not read: a host on this LAN may be flooding the discovery port (UDP 3702). Cameras among them are not listed; add them by address below.</p>" : "";
  if (!found.length) { box.innerHTML = flood + '<p class="empty">' + (flood ? "No ONVIF camera was among the replies read." : "No ONVIF cameras answered.") + ' Add them by address below.</p>'; return; }
  box.innerHTML = flood + '<form class="card" id="discovered"><div class="table-wrap"><table><thead><tr><th scope="col">Add</th><th scope="col">Address</th><th scope="col">Manufacturer</th><th scope="col">Model</th><th scope="col">Name</th><th scope="col">Ports</th></tr></thead><tbody>' +
    found.map((d, i) => '<tr><td><input type="checkbox" name="pick" value="' + i + '" aria-label="Add ' + esc(d.address) + '" checked></td><td class="mono">' + esc(d.address) + '</td><td>' + esc(d.manufacturer) + '</td><td>' + esc(d.model) + '</td><td>' + esc(d.name) + '</td><td>' + esc((d.ports || []).map((p) => p + (d.protocols?.[p] ? "/" + d.protocols[p] : "")).join(", ")) + '</td></tr>').join("") +
    '</tbody></table></div>' + (data.dropped > 0 ? '<p class="warn" role="status" data-dropped>' + esc(Number(data.dropped).toLocaleString()) + (data.dropped === 1 ? " more device" : " more devices") + " answered than one discovery shows: add the rest by address or range below.</p>" : "") + '<p><button type="submit">+ Add selected</button></p></form>';
  labelCells(box);
  document.getElementById("discovered").addEventListener("submit", async (e) => {
    e.preventDefault();
    const picks = [...e.target.querySelectorAll("[name=pick]:checked")].map((c) => found[Number(c.value)]);
    try {
      for (const d of picks) {
        await api("POST", "/api/sites/" + encodeURIComponent(site) + "/devices", { host: d.address, ports: d.ports?.length ? d.ports : [80, 554], protocols: d.protocols,
          manufacturer: d.manufacturer || undefined, model: d.model || undefined, label: d.name || undefined });
      }
      toastAcross(picks.length === 1 ? "1 device added" : picks.length + " devices added"); location.href = "/sites/" + encodeURIComponent(site);
    } catch (err) { toast(err.message, true); }
  });
};
const EVENT_LABELS = ${JSON.stringify(EVENT_LABELS)};
{ // The unread badge and the Events page follow the tenant's events live (server-sent events).
  // Only while the tab is visible: a browser allows six connections per host, and every hidden
  // console tab holding a stream would soon use them up.
  const badge = document.querySelector("[data-unread]");
  let es = null;
  const open = () => {
    if (es || !badge || !window.EventSource) return;
    // The Events page resumes after the newest event it shows: what happened while the tab was
    // hidden (the stream closed) is added when it is shown again.
    const live = document.querySelector("#event-list[data-live]");
    es = new EventSource("/api/events/stream" + (live ? "?after=" + encodeURIComponent(live.dataset.after || "0") : ""));
    es.addEventListener("unread", (m) => {
      const n = JSON.parse(m.data).unread;
      badge.textContent = n > 99 ? "99+" : String(n); badge.hidden = n === 0;
      const mark = document.querySelector("[data-mark-read]");
      if (mark?.dataset.markRead === "all") { mark.textContent = "Mark all read (" + n + " unread)"; mark.disabled = n === 0; }
    });
    es.addEventListener("event", (m) => {
      const e = JSON.parse(m.data);
      const list = document.querySelector("#event-list[data-live]"); if (list) list.dataset.after = String(Math.max(Number(list.dataset.after || 0), e.seq));
      const body = list?.querySelector("tbody"); if (!body) return;
      if (list.dataset.types && !list.dataset.types.split(",").includes(e.type)) return;
      if (list.dataset.site && e.subject.siteId !== list.dataset.site) return;
      if (list.dataset.device && e.subject.deviceId !== list.dataset.device) return;
      document.querySelector("main .empty")?.remove();
      const tr = document.createElement("tr"); tr.className = "unread"; tr.dataset.event = e.seq; tr.dataset.type = e.type;
      const err = (e.detail && typeof e.detail.error === "string" ? '<div class="muted">' + esc(e.detail.error) + "</div>" : "") + (e.detail && e.detail.alertsPaused === true ? '<div class="muted" data-paused>Alerts paused for the site: not sent</div>' : "") + (e.detail && e.detail.alertsSnoozed === true ? '<div class="muted" data-snoozed>Alerts snoozed for the device: not sent</div>' : "");
      const live = e.detail && typeof e.detail.liveUrl === "string" ? new RegExp("^https?://[^/]+(/live/[A-Za-z0-9_-]{1,64})$").exec(e.detail.liveUrl)?.[1] : null;
      const at = String(e.at).replace(/\\.\\d+Z$/, "Z");
      const watch = live ? '<div><a href="' + esc(live) + '" target="_blank" rel="noopener">Watch live</a> · <a href="' + esc(live + "?at=" + encodeURIComponent(at)) + '" target="_blank" rel="noopener">Watch the recording</a> · <a href="' + esc(live + "?clip=" + encodeURIComponent(at)) + '" target="_blank" rel="noopener">Save a clip</a></div>' : "";
      const snap = e.detail && typeof e.detail.snapshot === "string" && /^[A-Za-z0-9-]{1,64}$/.test(e.detail.snapshot) ? "/api/event-snapshots/" + e.detail.snapshot + ".jpg" : null;
      const picture = snap ? '<a href="' + snap + '" target="_blank" rel="noopener" class="event-picture"><img src="' + snap + '" alt="What the camera saw" loading="lazy" width="160"></a>' : "";
      tr.innerHTML = '<td><time data-local datetime="' + esc(e.at) + '">' + esc(localTime(Date.parse(e.at))) + "</time></td><td>" + esc(EVENT_LABELS[e.type] || e.type) + (e.detail && typeof e.detail.input === "string" ? " (" + esc(e.detail.input) + ")" : "") + "</td><td>" + esc(e.subject.name) + (e.subject.siteName ? " · " + esc(e.subject.siteName) : "") + err + watch + picture + '</td><td class="mono">' + esc(e.actor) + "</td>";
      body.prepend(tr); labelCells(body.closest(".table-wrap") ?? document);
      const these = document.querySelector('[data-mark-read="these"]'); if (these) these.disabled = false;
    });
    es.addEventListener("gap", (m) => {
      const list = document.querySelector("#event-list[data-live]"); if (!list) return;
      list.dataset.after = String(Math.max(Number(list.dataset.after || 0), Number(JSON.parse(m.data).upTo) || 0));
      if (document.querySelector("[data-gap]")) return;
      const p = document.createElement("p"); p.className = "warn"; p.dataset.gap = ""; p.setAttribute("role", "status");
      p.innerHTML = "At least " + Number(JSON.parse(m.data).atLeast).toLocaleString() + ' new events arrived at once, more than this page adds one by one: <a href="">reload</a> to see them.';
      list.before(p);
    });
  };
  const close = () => { es?.close(); es = null; };
  document.addEventListener("visibilitychange", () => (document.hidden ? close() : open()));
  if (!document.hidden) open();
}
window.ncApi = api; window.ncToast = toast;
`;

/** The console's icon (a small SVG, served for /favicon.ico so browsers stop logging a 404). */
const FAVICON_SVG =
  `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 16 16"><rect width="16" height="16" rx="3" fill="#1d4ed8"/><path d="M4 12V4l8 8V4" stroke="#fff" stroke-width="2" fill="none"/></svg>`;

/** Serves the assets at /ui/app.css, /ui/app.js, /ui/live.js, /ui/thumbs.js and /favicon.ico. */
export function assetRoutes(): Hono {
  const app = new Hono();
  const headers = (type: string) => ({
    "content-type": type,
    "cache-control": "public, max-age=300",
  });
  app.get("/ui/app.css", (c) => c.body(APP_CSS, 200, headers("text/css; charset=utf-8")));
  app.get("/ui/app.js", (c) => c.body(APP_JS, 200, headers("text/javascript; charset=utf-8")));
  app.get("/favicon.ico", (c) => c.body(FAVICON_SVG, 200, headers("image/svg+xml")));
  app.get("/ui/live.js", (c) => c.body(LIVE_JS, 200, headers("text/javascript; charset=utf-8")));
  app.get(
    "/ui/thumbs.js",
    (c) => c.body(THUMBS_JS, 200, headers("text/javascript; charset=utf-8")),
  );
  return app;
}
