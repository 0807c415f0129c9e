/**
 * How far off a camera's clock is, in words, for the page scripts that say it (the live view's
 * clock check, the site page's "Set the cameras' clocks"): "3 h 5 min" (to the minute past an
 * hour, as a camera's clock is read to the second and a minute either way does not matter
 * there), "4 min 10 s", "42 s", each "behind" or "ahead".
 * @module
 */

/** The page-side function `clockSpan(seconds)` (negative: behind); inlined into each script. */
export const CLOCK_SPAN_JS = `
const clockSpan = (seconds) => {
  const s = Math.abs(seconds);
  const minutes = Math.round(s / 60), h = Math.floor(minutes / 60);
  const words = h ? h + " h " + (minutes % 60) + " min" : s >= 60 ? Math.floor(s / 60) + " min " + (s % 60) + " s" : s + " s";
  return words + (seconds < 0 ? " behind" : " ahead");
};
`;
