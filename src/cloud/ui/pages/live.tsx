/**
 * Live view pages: `/live/{handle}?path=/stream` plays one camera (a bare page, embeddable in the
 * cloud's own pages), and `/sites/{id}/live?path=/stream&page=N` a grid of a site's RTSP
 * cameras, 16 per page. The pages carry no stream themselves: the player script (live_player.ts) opens the
 * live WebSocket, where access is decided. Without `path` the single page asks for it. Under
 * the single camera, its latest alerts (motion, tampering, inputs), each with what it saw then,
 * and for an admin how often they may come (the camera's quiet period after an alert).
 * @module
 */
import type { TenantEvent } from "../../store/store.ts";
import { CAMERA_ALERTS, EVENT_LABELS } from "../../events/labels.ts";
import { snapshotPathOf } from "./events.tsx";
import { SPEEDS } from "../../live/pace.ts";

/** Most cameras one grid page plays at once. */
export const GRID_MAX = 16;
/** The camera's alerts the single camera's page lists. */
export const RECENT_ALERTS = 6;

/**
 * The camera's latest alerts under its picture: when, what, and what it saw then; on a camera's
 * own page, its recording of each played from 10 s before it, or saved as a minute's clip.
 */
function RecentAlerts(props: { alerts: TenantEvent[]; replay?: boolean }) {
  if (!props.alerts.length) return null;
  return (
    <section class="recent-alerts" aria-label="Recent alerts">
      <h2>Recent alerts</h2>
      <ul>
        {props.alerts.map((e) => {
          const picture = snapshotPathOf(e.detail);
          return (
            <li data-event={e.seq} data-type={e.type}>
              {picture
                ? (
                  <a href={picture} target="_blank" rel="noopener">
                    <img src={picture} alt="What the camera saw" loading="lazy" width="120" />
                  </a>
                )
                : null}
              <span>
                {EVENT_LABELS[e.type] ?? e.type}
                {typeof e.detail.input === "string" ? ` (${e.detail.input})` : ""}
                <br />
                <time datetime={new Date(e.at).toISOString()} data-local>
                  {new Date(e.at).toISOString().replace("T", " ").slice(0, 19)} UTC
                </time>
                {props.replay
                  ? (
                    <>
                      <br />
                      <button
                        type="button"
                        class="link"
                        data-replay-at={new Date(e.at - REPLAY_BEFORE_MS).toISOString()
                          .replace(/\.\d+Z$/, "Z")}
                      >
                        Play the recording
                      </button>
                      {" · "}
                      <button
                        type="button"
                        class="link"
                        data-clip-at={new Date(e.at - REPLAY_BEFORE_MS).toISOString()
                          .replace(/\.\d+Z$/, "Z")}
                      >
                        Save a clip
                      </button>
                    </>
                  )
                  : null}
              </span>
            </li>
          );
        })}
      </ul>
      <p class="muted">
        <a href={`/events?type=${CAMERA_ALERTS.join(",")}`} target="_blank">
          Every camera alert
        </a>
      </p>
    </section>
  );
}

/** How long before an alert its "Play the recording" starts (what led up to it). */
export const REPLAY_BEFORE_MS = 10_000;
/** How long an alert's "Save a clip" is: from 10 s before it, a minute. */
export const ALERT_CLIP_S = 60;

/** The quiet periods offered, in seconds, with their words. */
const QUIET_CHOICES: [number, string][] = [
  [0, "every time"],
  [60, "at most once a minute"],
  [300, "at most every 5 minutes"],
  [900, "at most every 15 minutes"],
  [3600, "at most once an hour"],
];

/** A quiet period in words ("at most every 2 minutes"), for one set through the API. */
export function quietWords(s: number): string {
  const known = QUIET_CHOICES.find(([v]) => v === s);
  if (known) return known[1];
  if (s % 3600 === 0) return `at most every ${s / 3600} hours`;
  if (s % 60 === 0) return `at most every ${s / 60} minutes`;
  return `at most every ${s} seconds`;
}

/**
 * How often this camera's alerts may come (its `alertQuietSeconds`): a choice that saves at once
 * (live_player.ts), for the tenant's admins, while its alerts are on.
 */
function AlertQuiet(props: { deviceId: string; seconds: number }) {
  const choices = QUIET_CHOICES.some(([v]) => v === props.seconds)
    ? QUIET_CHOICES
    : [...QUIET_CHOICES, [props.seconds, quietWords(props.seconds)] as [number, string]]
      .sort((a, b) => a[0] - b[0]);
  return (
    <p class="alert-quiet">
      <label>
        Alerts from this camera:{" "}
        <select
          name="alertQuietSeconds"
          data-quiet
          data-device={`/api/devices/${props.deviceId}`}
        >
          {choices.map(([v, words]) => (
            <option value={String(v)} selected={v === props.seconds}>{words}</option>
          ))}
        </select>
      </label>{" "}
      <span class="muted" id="quiet-said" role="status">
        (each kind: motion, tampering, each input)
      </span>
    </p>
  );
}

/**
 * Whether the live view plays this camera's sound (its `liveSound`): a choice that saves at once
 * (live_player.ts), for the tenant's admins — where listening is not allowed, it is turned off
 * here for every viewer. What reaches the camera another way (the RTSP gateway, a tunnel) is the
 * camera's own: said beside it.
 */
function LiveSound(props: { deviceId: string; on: boolean }) {
  return (
    <p class="alert-quiet">
      <label>
        Sound from this camera:{" "}
        <select name="liveSound" data-live-sound data-device={`/api/devices/${props.deviceId}`}>
          <option value="on" selected={props.on}>played in the live view</option>
          <option value="off" selected={!props.on}>never played</option>
        </select>
      </label>{" "}
      <span class="muted" id="live-sound-said" role="status">
        (the live view, its clips and the RTSP URL; tunnels carry what the camera sends)
      </span>
    </p>
  );
}

/**
 * The speeds a pad's move may go at (of ONVIF's −1..1): slow to aim at a plate or a face, fast to
 * swing to the other side of a yard. The first one the page offers is the default.
 */
export const PTZ_SPEEDS = [["Normal", 0.5], ["Slow", 0.2], ["Fast", 1]] as const;

/**
 * Pan, tilt and zoom (api/ptz.ts), for an operator: first a button that asks the camera whether
 * it can move (a stop), then, when it can, a pad whose buttons move it while held (pointer or
 * keyboard) and stop it when let go, and the positions the camera keeps (its presets) to go to,
 * to save where it points as one (by name) and to remove one.
 */
function PtzPad(props: { handle: string }) {
  // Each button holds a direction; the page scales it by the speed chosen.
  const move = (label: string, name: string, pan: number, tilt: number, zoom: number) => (
    <button
      type="button"
      aria-label={name}
      title={name}
      data-ptz-move={JSON.stringify({ pan, tilt, zoom })}
    >
      {label}
    </button>
  );
  const s = 1;
  return (
    <section class="ptz" data-ptz={`/api/handles/${props.handle}/ptz`} aria-label="Pan, tilt, zoom">
      <button type="button" data-ptz-start>Pan / tilt / zoom</button>
      <div class="ptz-pad" hidden>
        <span></span>
        {move("▲", "Tilt up", 0, s, 0)}
        <span></span>
        {move("◀", "Pan left", -s, 0, 0)}
        <span></span>
        {move("▶", "Pan right", s, 0, 0)}
        <span></span>
        {move("▼", "Tilt down", 0, -s, 0)}
        <span></span>
      </div>
      <div class="ptz-zoom" hidden>
        {move("−", "Zoom out", 0, 0, -s)}
        {move("+", "Zoom in", 0, 0, s)}
        <label for="ptz-speed">Speed</label>
        <select id="ptz-speed">
          {PTZ_SPEEDS.map(([name, speed]) => (
            <option key={name} value={String(speed)}>{name}</option>
          ))}
        </select>
      </div>
      <div class="ptz-presets" hidden>
        <label for="ptz-preset">Preset</label>
        <select id="ptz-preset"></select>
        <button type="button" data-ptz-goto>Go</button>
        <button type="button" data-ptz-remove>Remove</button>
      </div>
      <form class="ptz-save" hidden>
        <label for="ptz-save-name">Save this view as</label>
        <input id="ptz-save-name" maxlength={64} required placeholder="Gate" autocomplete="off" />
        <button type="submit">Save</button>
      </form>
      <span class="muted" id="ptz-said" role="status"></span>
    </section>
  );
}

/**
 * Focus (api/focus.ts), for an operator: first a button that asks the camera whether its lens
 * can focus from here (and how it focuses now), then Nearer and Farther, which nudge the focus
 * while held, and Auto focus, which hands it back to the camera.
 */
function FocusPad(props: { handle: string }) {
  return (
    <section class="ptz focus" data-focus={`/api/handles/${props.handle}/focus`} aria-label="Focus">
      <button type="button" data-focus-start>Focus</button>
      <div class="focus-buttons" hidden>
        <button type="button" data-focus-nudge="-1" aria-label="Focus nearer" title="Focus nearer">
          Nearer
        </button>
        <button type="button" data-focus-nudge="1" aria-label="Focus farther" title="Focus farther">
          Farther
        </button>
        <button type="button" data-focus-auto>Auto focus</button>
      </div>
      <span class="muted" id="focus-said" role="status"></span>
    </section>
  );
}

/**
 * The camera's alarm outputs (api/relays.ts), for an operator: listed on demand, each triggered
 * (a pulse that goes back by itself) or switched on and off, confirmed before it acts.
 */
function CameraOutputs(props: { handle: string; label: string }) {
  return (
    <section
      class="ptz relays"
      data-relays={`/api/handles/${props.handle}/relays`}
      data-label={props.label}
      aria-label="Alarm outputs"
    >
      <button type="button" data-relays-start>Alarm outputs</button>
      <ul class="relay-list" hidden></ul>
      <span class="muted" id="relays-said" role="status"></span>
    </section>
  );
}

/**
 * The camera's clock (api/camera_clock.ts), for an operator: checked on demand (how far off, how
 * it keeps time), and, when it is more than 5 s off, set to the right time.
 */
function CameraClockCheck(props: { handle: string }) {
  return (
    <section
      class="ptz clock"
      data-clock={`/api/handles/${props.handle}/clock`}
      aria-label="Camera clock"
    >
      <button type="button" data-clock-read>Check the camera's clock</button>
      <button type="button" data-clock-set hidden>Set it to the right time</button>
      <span class="muted" id="clock-said" role="status"></span>
    </section>
  );
}

/**
 * Restart (api/reboot.ts), for an operator: asked to confirm (the picture and recording stop
 * until the camera is back), then what the camera said; the player picks the picture up again
 * by itself.
 */
function CameraRestart(props: { handle: string; label: string }) {
  return (
    <section class="ptz restart" aria-label="Restart">
      <button
        type="button"
        data-reboot={`/api/handles/${props.handle}/reboot`}
        data-label={props.label}
      >
        Restart the camera
      </button>
      <span class="muted" id="reboot-said" role="status"></span>
    </section>
  );
}

/**
 * The camera's own recording (api/recording.ts), for anyone who may watch it: asked on demand
 * (from when to when it holds pictures), then played from a time chosen in the viewer's own time
 * zone — the page reloads on the camera's replay path from that instant, with "Back to live".
 * Opened from an alert's link (`?at=`), it does so at once, from just before the alert (from
 * `?clip=`, an alert's "Save a clip", it saves a minute of it as a file instead). "What
 * happened from then" asks the camera's search what its recording holds from the chosen time on
 * (motion, tampering, alarm inputs), each with "Play" from just before it, and "Find more". A
 * camera that keeps several recordings (an NVR, one per channel) offers them by name.
 */
function RecordingBar(
  props: { handle: string; livePath: string; at?: number; save?: boolean },
) {
  return (
    <section
      class="ptz recording"
      data-recording={`/api/handles/${props.handle}/recording`}
      data-replay-before={String(REPLAY_BEFORE_MS)}
      data-clip={`/api/live/${props.handle}/clip.mp4`}
      data-clip-seconds={String(ALERT_CLIP_S)}
      data-live-path={props.livePath}
      data-at={props.at === undefined
        ? undefined
        : new Date(props.at - REPLAY_BEFORE_MS).toISOString().replace(/\.\d+Z$/, "Z")}
      data-at-save={props.at !== undefined && props.save ? "" : undefined}
      aria-label="Recording"
    >
      <button type="button" data-recording-start>Recording</button>
      <form class="recording-play" hidden>
        <span class="recording-which" hidden>
          <label for="recording-which">Recording of</label>
          <select id="recording-which"></select>
        </span>
        <label for="recording-from">Play from</label>
        <input id="recording-from" type="datetime-local" step="1" required />
        <button type="submit">Play</button>
        <button type="button" data-recording-find>What happened from then</button>
      </form>
      <span class="muted" id="recording-said" role="status"></span>
      <div class="recording-found" hidden>
        <ol class="recording-events" aria-label="What the recording holds"></ol>
        <button type="button" data-recording-more hidden>Find more</button>
      </div>
    </section>
  );
}

/** The lengths a clip of the recording is saved in (seconds, as offered). */
export const CLIP_LENGTHS: [number, string][] = [
  [10, "10 s"],
  [30, "30 s"],
  [60, "1 min"],
  [300, "5 min"],
  [600, "10 min"],
];

/** A clip's length to choose, labelled: one of {@link CLIP_LENGTHS}, a minute at first. */
function ClipLength(props: { id: string; label: string }) {
  return (
    <>
      <label for={props.id}>{props.label}</label>
      <select id={props.id}>
        {CLIP_LENGTHS.map(([seconds, label]) => (
          <option key={label} value={String(seconds)} selected={seconds === 60}>{label}</option>
        ))}
      </select>
    </>
  );
}

/** The steps of the recording's slider (seconds; its arrow keys move by one). */
export const SEEK_STEP_S = 10;

/** How far "30 s back" and "30 s on" move in a played recording. */
export const RECORDING_STEP_S = 30;

/**
 * Moving in the camera's recording while it plays: which instant is on the screen (ticking, in the
 * viewer's zone), back or on by {@link RECORDING_STEP_S}, and pause. Each move asks the camera
 * afresh from the new instant (its replay has no seek of its own the cloud shares), and a pause
 * ends the camera's session — a paused recording holds nothing on the camera or the tunnel — to
 * play on from the same second. The page's address follows, so a reload or a copied link plays from
 * where it was. A slider spans the hour around the instant placed (up to now), with the camera's
 * events in that hour marked on it (its search, asked once per hour shown): dragging it, or its
 * arrow keys, plays from where it is let go. "Speed" plays it 2 to 16 times faster than it
 * happened (live/pace.ts: a camera that can send its recording fast; one that cannot plays it as
 * it happened, and the page says so). "Save a clip from here" downloads the recording from the
 * instant on the screen for the length chosen, as an MP4 file (api/recording_clip.ts).
 */
function RecordingNav(props: { handle: string; from: number; speed: number }) {
  const iso = new Date(props.from).toISOString();
  return (
    <div
      class="recording-nav"
      role="group"
      aria-label="Move in the recording"
      data-recording-events={`/api/handles/${props.handle}/recording/events`}
    >
      <span class="muted">
        {"On the screen: "}
        <time id="recording-at" datetime={iso}>{iso}</time>
      </span>
      <span class="recording-seek">
        <input
          type="range"
          id="recording-seek"
          step={String(SEEK_STEP_S)}
          list="recording-marks"
          aria-label="The instant to play from, in the hour around it (the camera's events marked)"
        />
        <datalist id="recording-marks"></datalist>
        <output id="recording-seek-at" for="recording-seek"></output>
      </span>
      <button type="button" data-recording-seek={-RECORDING_STEP_S}>
        « {RECORDING_STEP_S} s back
      </button>
      <button type="button" data-recording-pause aria-pressed="false">Pause</button>
      <button type="button" data-recording-seek={RECORDING_STEP_S}>
        {RECORDING_STEP_S} s on »
      </button>
      <span class="recording-speed">
        <label for="recording-speed">Speed</label>
        <select id="recording-speed">
          {SPEEDS.map((n) => (
            <option key={String(n)} value={String(n)} selected={n === props.speed}>
              {n === 1 ? "As it happened" : `${n}×`}
            </option>
          ))}
        </select>
      </span>
      <span class="recording-clip">
        <ClipLength id="recording-clip-length" label="Clip" />
        <button type="button" data-recording-clip={`/api/live/${props.handle}/clip.mp4`}>
          Save a clip from here
        </button>
      </span>
      <span class="muted" id="recording-moved" role="status"></span>
      <span class="muted recording-keys">
        Keys: Space pauses · ← → {RECORDING_STEP_S} s · &lt; &gt; speed
      </span>
    </div>
  );
}

/**
 * "Save the picture": the picture on the screen as a JPEG file, made in the browser from the video
 * (nothing is asked of the camera or the cloud), named by the camera and the instant it shows —
 * the recording's instant on the screen, or now for the live picture. "Full screen": the picture
 * alone on the screen (Esc leaves).
 */
function SavePicture(props: { label: string }) {
  return (
    <div class="picture-save">
      <button type="button" data-save-picture={props.label}>Save the picture</button>
      <button type="button" data-full-screen>Full screen</button>
      <span class="muted" id="picture-said" role="status"></span>
    </div>
  );
}

/**
 * "Record a clip": the next minutes of the live picture as an MP4 file (api/recording_clip.ts
 * `record.mp4`), for a camera that keeps no recording of its own: from the picture's last
 * keyframe, for the length chosen, as the browser's download.
 */
function RecordClip(props: { handle: string }) {
  return (
    <div class="picture-save">
      <ClipLength id="record-length" label="Record" />
      <button type="button" data-record-clip={`/api/live/${props.handle}/record.mp4`}>
        Record a clip
      </button>
      <span class="muted" id="record-said" role="status"></span>
    </div>
  );
}

/** One camera tile. */
function Tile(
  props: {
    key?: string;
    handle: string;
    path: string;
    label: string;
    from?: number;
    speed?: number;
    /** A grid's tile: its own "Full screen" (a double click on it too). */
    zoom?: boolean;
  },
) {
  return (
    <figure class="live-tile">
      <video
        data-live={props.handle}
        data-path={props.path}
        data-from={props.from === undefined
          ? undefined
          : new Date(props.from).toISOString().replace(/\.\d+Z$/, "Z")}
        data-speed={props.speed && props.speed !== 1 ? String(props.speed) : undefined}
        muted
        autoplay
        playsinline
        aria-label={`Live view of ${props.label}`}
      >
      </video>
      <figcaption>
        <a href={`/live/${props.handle}`} target="_blank" rel="noopener">{props.label}</a>{" "}
        {props.zoom
          ? (
            <button
              type="button"
              class="link"
              data-tile-full-screen
              aria-label={`Full screen: ${props.label}`}
            >
              Full screen
            </button>
          )
          : null}{" "}
        <button
          type="button"
          class="link"
          data-sound
          title={props.zoom ? "The camera's sound" : "The camera's sound (M)"}
          hidden
        >
          Turn sound on
        </button>{" "}
        <span class="live-status muted" role="status"></span>
      </figcaption>
    </figure>
  );
}

const STYLE = `body{margin:0;background:#101828;color:#e4e7ec;font-family:system-ui,sans-serif}
.live-grid{display:grid;grid-template-columns:repeat(auto-fit,minmax(20rem,1fr));gap:.5rem;padding:.5rem}
.live-tile{margin:0}.live-tile video{width:100%;background:#000;aspect-ratio:4/3;display:block}
.live-tile figcaption{padding:.25rem .4rem;font-size:.9rem}
.live-tile figcaption button.link{background:none;border:0;padding:0;color:#84adff;text-decoration:underline;cursor:pointer;font:inherit}.muted{color:#98a2b3}
.live-tile{position:relative}.live-tile video:not([data-state=playing]){opacity:.45}
.live-tile:fullscreen{background:#000;display:flex;flex-direction:column;justify-content:center}
.live-tile:fullscreen video{height:calc(100vh - 2rem);aspect-ratio:auto;object-fit:contain}
.live-tile:has(video:not([data-state=playing])) .live-status{position:absolute;top:.5rem;left:.5rem;right:.5rem;
background:rgba(16,24,40,.85);color:#fff;padding:.4rem .6rem;border-radius:4px;font-size:1rem}
form{padding:1rem}label{display:block;margin:.5rem 0}input{font:inherit;padding:.3rem}a{color:#9db4ff}
.recent-alerts{padding:0 .5rem .5rem}.recent-alerts h2{font-size:1rem;margin:.5rem 0}
.recent-alerts ul{list-style:none;margin:0;padding:0;display:flex;flex-wrap:wrap;gap:.5rem}
.recent-alerts li{display:flex;gap:.4rem;align-items:flex-start;font-size:.85rem}
.recent-alerts img{display:block;border-radius:3px;background:#000}
.alert-quiet{padding:0 .5rem;margin:.5rem 0}.alert-quiet select{font:inherit;padding:.2rem}
.ptz{padding:0 .5rem;margin:.5rem 0;display:flex;gap:.75rem;align-items:center;flex-wrap:wrap}
.ptz button{font:inherit;min-width:2.6rem;min-height:2.6rem;border-radius:4px;border:1px solid #475467;
background:#1d2939;color:#e4e7ec;touch-action:none;user-select:none}.ptz button:active,.ptz button[aria-pressed=true]{background:#344054}
.recent-alerts button.link{background:none;border:0;padding:0;color:#84adff;text-decoration:underline;cursor:pointer;font:inherit}.recording-now{padding:0 .5rem;margin:.5rem 0}.recording-play{display:flex;gap:.4rem;align-items:center}.recording-nav{padding:0 .5rem;margin:.5rem 0;display:flex;gap:.5rem;align-items:center;flex-wrap:wrap}.recording-nav button{font:inherit;padding:.3rem .6rem;border-radius:4px;border:1px solid #475467;background:#1d2939;color:#e4e7ec}.recording-nav button[aria-pressed=true]{background:#344054}.recording-clip,.recording-speed{display:flex;gap:.4rem;align-items:center}.recording-speed select{font:inherit;padding:.3rem}.recording-seek{display:flex;gap:.4rem;align-items:center}.recording-seek input{width:18rem;accent-color:#84adff}.recording-seek output{min-width:6rem;font-variant-numeric:tabular-nums}.picture-save{padding:0 .5rem;margin:.5rem 0;display:flex;gap:.5rem;align-items:center}.picture-save button{font:inherit;padding:.3rem .6rem;border-radius:4px;border:1px solid #475467;background:#1d2939;color:#e4e7ec}.picture-save select{font:inherit;padding:.3rem}.picture-save label{margin:0}.recording-clip select{font:inherit;padding:.3rem}.recording-play label{margin:0}.recording-which{display:flex;gap:.4rem;align-items:center}.recording-which select{font:inherit;padding:.3rem;max-width:14rem}.recording-which[hidden]{display:none}.recording-found{flex-basis:100%}.recording-events{margin:.25rem 0;padding-left:1.25rem;max-height:16rem;overflow-y:auto}.recording-events li{margin:.15rem 0}.recording-events button,.recording-found>button{font:inherit;padding:.15rem .5rem;margin-left:.75rem;min-height:0;border-radius:4px;border:1px solid #475467;background:#1d2939;color:#e4e7ec}.recording-play input{font:inherit;padding:.3rem}.camera-controls{display:flex;flex-wrap:wrap;align-items:flex-start;column-gap:.5rem}.focus-buttons{display:flex;gap:.25rem}.relay-list{list-style:none;margin:0;padding:0;display:flex;gap:.75rem;flex-wrap:wrap}.relay-list li{display:flex;gap:.25rem;align-items:center}.ptz-pad{display:grid;grid-template-columns:repeat(3,2.8rem);gap:.25rem}.ptz-zoom{display:flex;gap:.25rem;align-items:center}.ptz-zoom label{margin:0 0 0 .5rem}.ptz-presets,.ptz-save{display:flex;gap:.4rem;align-items:center}.ptz-presets label,.ptz-save label{margin:0}
.ptz-save input{font:inherit;padding:.3rem;width:10rem}
.ptz-presets select,#ptz-speed{font:inherit;padding:.3rem;max-width:14rem}.ptz [hidden]{display:none}`;

/**
 * A bare page around its content; `csrf` for a page whose script calls the API or opens a live
 * socket (a signed-in page's sockets offer it: ui/ws_proof.ts).
 */
function Bare(props: { title: string; csrf?: string; children?: unknown }) {
  return (
    <html lang="en">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <title>{props.title} — Nanodems Connector</title>
        {props.csrf ? <meta name="csrf-token" content={props.csrf} /> : null}
        <style>{STYLE}</style>
        <script type="module" src="/ui/live.js"></script>
      </head>
      <body>
        <main>{props.children}</main>
      </body>
    </html>
  );
}

/**
 * One camera; without a stream path, a form asking for it, with a button that asks the camera
 * over ONVIF (`csrf`: the session's antiforgery token, for that call).
 */
export function LivePage(
  props: {
    handle: string;
    path: string | null;
    label: string;
    csrf?: string;
    /** The camera's latest alerts (newest first), listed under it. */
    alerts?: TenantEvent[];
    /** For an admin, while its alerts are on: the camera's quiet period, to change. */
    quiet?: { deviceId: string; seconds: number };
    /** For an admin: whether the live view plays the camera's sound, to change. */
    sound?: { deviceId: string; on: boolean };
    /**
     * For an operator: the pan/tilt/zoom pad and the focus buttons (each shown once the camera
     * says it can), its alarm outputs, its clock (checked, and set when off) and its restart.
     */
    controls?: boolean;
    /**
     * The camera's recording played from a time instead of live (its replay path, the time, and
     * how many times faster than it happened).
     */
    recording?: { path: string; from: number; speed: number };
    /** An alert's moment (ms): the camera's recording is played from just before it at once. */
    replayAt?: number;
    /** With `replayAt`: a minute of the recording from just before it is saved as a file instead. */
    clipAt?: boolean;
  },
) {
  const quiet = (
    <>
      {props.sound ? <LiveSound {...props.sound} /> : null}
      {props.quiet ? <AlertQuiet {...props.quiet} /> : null}
    </>
  );
  // The camera's recording plays whether or not its live stream path is known.
  const recordingBar = (
    <RecordingBar
      handle={props.handle}
      livePath={props.path ?? ""}
      at={props.replayAt}
      save={props.clipAt}
    />
  );
  if (props.path === null && !props.recording) {
    return (
      <Bare title={`Live: ${props.label}`} csrf={props.csrf}>
        <form method="get">
          <h1>Live: {props.label}</h1>
          <label>
            Stream path on the camera (as in its RTSP URL)
            <input name="path" value="/" required pattern="/[!-~]*" />
          </label>
          <button type="submit">Play</button>{" "}
          <button type="button" data-onvif={`/api/handles/${props.handle}/onvif`}>
            Ask the camera (ONVIF)
          </button>
          <p class="muted" id="onvif-said" role="status">
            Not known? The camera can say it over ONVIF (the cloud must hold its credentials): the
            path it gives is remembered for this port, and Live plays it at once.
          </p>
        </form>
        {recordingBar}
        {quiet}
        <RecentAlerts alerts={props.alerts ?? []} />
      </Bare>
    );
  }
  const livePage = props.path === null
    ? `/live/${props.handle}`
    : `/live/${props.handle}?path=${encodeURIComponent(props.path)}`;
  return (
    <Bare title={`Live: ${props.label}`} csrf={props.csrf}>
      {props.recording
        ? (
          <p class="recording-now" role="status">
            {"Recording from "}
            <time data-local datetime={new Date(props.recording.from).toISOString()}>
              {new Date(props.recording.from).toISOString()}
            </time>
            {" · "}
            <a href={livePage}>Back to live</a>
          </p>
        )
        : null}
      {props.recording
        ? (
          <RecordingNav
            handle={props.handle}
            from={props.recording.from}
            speed={props.recording.speed}
          />
        )
        : null}
      <div class="live-grid">
        <Tile
          handle={props.handle}
          path={props.recording?.path ?? props.path ?? "/"}
          from={props.recording?.from}
          speed={props.recording?.speed}
          label={props.label}
        />
      </div>
      <SavePicture label={props.label} />
      {props.recording ? null : <RecordClip handle={props.handle} />}
      {recordingBar}
      {props.controls
        ? (
          <div class="camera-controls">
            <PtzPad handle={props.handle} />
            <FocusPad handle={props.handle} />
            <CameraOutputs handle={props.handle} label={props.label} />
            <CameraClockCheck handle={props.handle} />
            <CameraRestart handle={props.handle} label={props.label} />
          </div>
        )
        : null}
      {quiet}
      <RecentAlerts alerts={props.alerts ?? []} replay />
    </Bare>
  );
}

/**
 * How often a wall monitor's grid turns to its next page (seconds; 0: it stays), as offered; the
 * last page turns to the first.
 */
export const CYCLE_CHOICES: [number, string][] = [
  [0, "never"],
  [10, "every 10 s"],
  [30, "every 30 s"],
  [60, "every minute"],
  [300, "every 5 min"],
];
/** The shortest and longest turn a grid's address may ask (`?cycle=`), in seconds. */
export const CYCLE_RANGE = [5, 3600] as const;

/**
 * A page of a site's cameras (at most GRID_MAX), each on its own stream path when it has one
 * (remembered from its RTSP pill), else on `path`; with more than one page, which cameras these
 * are of how many, links to the pages before and after, and "Turn the pages" for a wall monitor
 * that shows every camera of a large site in turn (`?cycle=`, kept by the page links).
 */
export function LiveGridPage(
  props: {
    siteName: string;
    cameras: { handle: string; label: string; path?: string }[];
    path: string;
    paged: { page: number; pages: number; total: number };
    link: (page: number) => string;
    /** Seconds between pages on a wall monitor (`?cycle=`), or null: the page stays. */
    cycle?: number | null;
    /** The session's antiforgery token: the tiles' sockets offer it (ui/ws_proof.ts). */
    csrf?: string;
  },
) {
  const shown = props.cameras.slice(0, GRID_MAX);
  const { page, pages, total } = props.paged;
  const first = (page - 1) * GRID_MAX + 1;
  const cycle = props.cycle ?? 0;
  const choices = CYCLE_CHOICES.some(([s]) => s === cycle)
    ? CYCLE_CHOICES
    : [...CYCLE_CHOICES, [cycle, `${cycle} s`] as [number, string]];
  return (
    <Bare title={`Live: ${props.siteName}`} csrf={props.csrf}>
      <p style="padding:0 .5rem" id="grid-range">
        {props.siteName}: {pages > 1
          ? `cameras ${first}–${Math.min(first + GRID_MAX - 1, total)} of ${total}`
          : `${shown.length} camera(s)`}, stream path <code>{props.path}</code>
        {shown.some((c) => c.path) ? " unless a camera has its own" : ""}
        {page > 1
          ? (
            <>
              {" · "}
              <a href={props.link(page - 1)}>← Previous</a>
            </>
          )
          : null}
        {page < pages
          ? (
            <>
              {" · "}
              <a href={props.link(page + 1)}>Next →</a>
            </>
          )
          : null}
        {pages > 1
          ? (
            <>
              {" · "}
              <label for="grid-cycle">Turn the pages</label>{" "}
              <select id="grid-cycle" data-next={props.link(page < pages ? page + 1 : 1)}>
                {choices.map(([seconds, label]) => (
                  <option key={label} value={String(seconds)} selected={seconds === cycle}>
                    {label}
                  </option>
                ))}
              </select>
            </>
          )
          : null}
      </p>
      <div class="live-grid">
        {shown.map((c) => (
          <Tile
            key={c.handle}
            handle={c.handle}
            path={c.path ?? props.path}
            label={c.label}
            zoom
          />
        ))}
      </div>
    </Bare>
  );
}
