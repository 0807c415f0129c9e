/**
 * A camera whose sound an admin turned off (`liveSound: false`, where listening is not allowed)
 * plays without it through the RTSP gateway too: the device's DESCRIBE answer loses its audio
 * media sections before the player sees it, and a SETUP is let through only for a track the
 * filtered description kept, so a player that guesses the sound track's URL (or skips DESCRIBE)
 * gets nothing.
 * @module
 */

/** An SDP without its audio sections, and the `a=control:` values of the sections it kept. */
export interface FilteredSdp {
  sdp: string;
  /** The kept media sections' control values, as the device wrote them ("" for none: the base). */
  kept: string[];
  /** How many audio sections were dropped. */
  dropped: number;
}

/** Removes every `m=audio` section of `sdp` (line endings kept). */
export function withoutAudio(sdp: string): FilteredSdp {
  const lines = sdp.split(/(?<=\n)/);
  const out: string[] = [];
  const kept: string[] = [];
  let section: "session" | "keep" | "drop" = "session";
  let dropped = 0;
  let control: string | null = null;
  const endSection = () => {
    if (section === "keep") kept.push(control ?? "");
    control = null;
  };
  for (const line of lines) {
    const text = line.replace(/\r?\n$/, "");
    if (text.startsWith("m=")) {
      endSection();
      section = /^m=audio\b/i.test(text) ? "drop" : "keep";
      if (section === "drop") dropped++;
    }
    if (section === "drop") continue;
    const c = /^a=control:\s*(.*?)\s*$/i.exec(text)?.[1];
    if (section === "keep" && c !== undefined && control === null) control = c;
    out.push(line);
  }
  endSection();
  return { sdp: out.join(""), kept, dropped };
}

/**
 * Whether a SETUP's (device-side) URI names one of `kept`'s tracks: an absolute control equal to
 * it, a relative one it ends with (players append a relative control to the base), or the
 * description's `base` itself for a track without a control of its own.
 */
export function setupOfKept(uri: string, kept: string[], base: string): boolean {
  const trim = (u: string) => u.replace(/\/+$/, "");
  const target = trim(uri);
  for (const control of kept) {
    if (control === "" || control === "*") {
      if (target === trim(base)) return true;
    } else if (/^rtsp:\/\//i.test(control)) {
      if (trim(control) === target) return true;
    } else if (target.endsWith(`/${trim(control)}`) || target === trim(control)) return true;
  }
  return false;
}
