/**
 * What a person is told when their browser cannot play a camera's picture. The cloud sends the
 * camera's own encoding, never a transcoded one, and browsers differ: every one with Media Source
 * Extensions plays H.264, but H.265 only Safari and Chrome or Edge where the computer decodes it
 * in hardware. So the player and the thumbnails name the encoding as cameras' settings do
 * ("H.265", not `hvc1.1.6.L93.B0`) and say what helps; inlined into each script that needs it.
 * @module
 */

/**
 * The page-side functions `codecWords(codec)` (the picture's encoding named as a camera's
 * settings name it: "H.264", "H.265 (HEVC)", else the codec string itself) and
 * `cannotPlay(codec)` (the whole sentence for a player that cannot play `codec`, an MSE codec
 * string whose sound, if any, follows a comma).
 */
export const CODEC_WORDS_JS = `
function codecWords(codec) {
  const video = String(codec).split(",")[0];
  if (/^(hvc1|hev1)\\./.test(video)) return "H.265 (HEVC)";
  return /^avc[13]\\./.test(video) ? "H.264" : video;
}
function cannotPlay(codec) {
  const rtsp = "open the camera's RTSP URL (its RTSP pill on the site's page) " +
    "in a player such as VLC.";
  if (!window.MediaSource) {
    return "This browser has no Media Source Extensions (iOS Safari): " + rtsp;
  }
  if (codecWords(codec) === "H.265 (HEVC)") {
    return "This browser cannot play H.265 (HEVC): Safari can, and Chrome or Edge where the " +
      "computer decodes H.265 in hardware. Set the camera's stream to H.264 to watch it in " +
      "any browser, or " + rtsp;
  }
  return "This browser cannot play " + codec + " through Media Source Extensions: " + rtsp;
}
`;
