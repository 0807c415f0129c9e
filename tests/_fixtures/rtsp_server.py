#!/usr/bin/python3
"""A real RTSP camera for the tests: GStreamer's RTSP server (Debian's gir1.2-gst-rtsp-server-1.0)
serving a live H.264 test pattern (H.265 with --codec h265) at /live/cam1 on 127.0.0.1, optionally
behind Digest auth
(and, for the bench, more mounts /live/cam2…N, a bitrate, a size and a pattern).
With --pattern clock every picture carries its capture time burned in (see clock_frame), so a
viewer can measure glass-to-glass latency: capture → encode → RTP → tunnel → cloud → screen.
With --audio the live mounts also send sound, as cameras do: a 440 Hz tone in AAC (16 kHz mono),
or with --audio pcmu / pcma in G.711 (8 kHz, RTP's static payload types 0 and 8).
With --recording it also serves /recording/cam1 as a camera's recording does over ONVIF replay
(GStreamer's own ONVIF server: `Require: onvif-replay`, and `Rate-Control: no` answered by
sending as fast as it encodes instead of as it plays), from the start of its pattern.
Prints "listening <port>" once ready. Run with /usr/bin/python3 (Debian's python3-gi)."""
import argparse
import socket
import time

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtsp", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtsp, GstRtspServer  # noqa: E402

Gst.init(None)
parser = argparse.ArgumentParser()
parser.add_argument("--port", type=int, default=0)
parser.add_argument("--digest", default="", help="user:password to require Digest auth")
parser.add_argument("--mounts", type=int, default=1, help="serve /live/cam1 … /live/camN")
parser.add_argument("--bitrate", type=int, default=0, help="kbit/s (0: the encoder's default)")
parser.add_argument("--size", default="320x240", help="WIDTHxHEIGHT")
parser.add_argument(
    "--pattern",
    default="ball",
    help="videotestsrc pattern (snow: incompressible), or clock: the capture time burned in",
)
parser.add_argument(
    "--audio",
    nargs="?",
    const="aac",
    choices=["aac", "pcmu", "pcma"],
    help="live mounts also send a 440 Hz tone: AAC (16 kHz mono, RTP MPEG4-GENERIC) or G.711",
)
parser.add_argument(
    "--codec",
    default="h264",
    choices=["h264", "h265"],
    help="the picture's encoding: H.264 (x264, else OpenH264) or H.265 (x265)",
)
parser.add_argument(
    "--recording",
    action="store_true",
    help="also serve /recording/cam1 over ONVIF replay (Rate-Control honoured)",
)
args = parser.parse_args()

port = args.port
if port == 0:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()

server = GstRtspServer.RTSPOnvifServer() if args.recording else GstRtspServer.RTSPServer()
server.set_address("127.0.0.1")
server.set_service(str(port))
encoder = next(
    e for e in (
        ("x265enc tune=zerolatency speed-preset=ultrafast key-int-max=15",)
        if args.codec == "h265"
        else ("x264enc tune=zerolatency speed-preset=ultrafast key-int-max=15", "openh264enc")
    )
    if Gst.ElementFactory.find(e.split()[0])
)
if args.bitrate:
    encoder += (
        f" bitrate={args.bitrate}" if encoder.startswith(("x264enc", "x265enc"))
        else f" bitrate={args.bitrate * 1000}"
    )
# 4:2:0, as cameras send it (x265 would otherwise take the test source's 4:4:4: a profile that
# browsers and hardware decoders do not play).
FORMAT = ",format=I420" if args.codec == "h265" else ""
# The encoding's RTP payloader ends the picture's elements.
encoder += f" ! rtp{args.codec}pay name=pay0 pt=96 config-interval=1"
width, height = args.size.split("x")
FPS = 15
BLOCK = 16


def clock_frame(w: int, h: int, ms: int) -> bytes:
    """One I420 picture, mid-grey, whose top-left carries `ms` (the capture time in epoch
    milliseconds, modulo 2^32) as 32 blocks of 16x16 pixels, white for 1 and black for 0, most
    significant bit first, two rows of 16 from (32, 16); below them, from (32, 48), the same two
    rows inverted, so a reader can tell a clean picture from one the encoder smeared. Blocks of
    16 pixels sit on macroblock boundaries: they survive H.264 at any bitrate this fixture uses."""
    bits = [(ms >> (31 - i)) & 1 for i in range(32)]
    rows = []
    for r in range(4):
        line = bytearray(b"\x80" * w)
        for c in range(16):
            bit = bits[(r % 2) * 16 + c] ^ (1 if r >= 2 else 0)
            x = 32 + c * BLOCK
            line[x:x + BLOCK] = (b"\xeb" if bit else b"\x10") * BLOCK
        rows.append(bytes(line) * BLOCK)
    grey = b"\x80" * w
    y_plane = grey * BLOCK + b"".join(rows) + grey * (h - 5 * BLOCK)
    return y_plane + b"\x80" * (w * h // 2)


def feed_clock(_factory, media) -> None:
    """Pushes a picture stamped with the wall clock FPS times a second while the media lives."""
    src = media.get_element().get_child_by_name("clock")
    live = {"on": True}
    media.connect("unprepared", lambda *_: live.update(on=False))

    def push() -> bool:
        # Until the media is unprepared, whatever one push returned: a push that meets a flush
        # (FLUSHING while the pipeline changes state) must not end the camera's pictures for good.
        if not live["on"]:
            return False
        frame = clock_frame(int(width), int(height), int(time.time() * 1000) & 0xFFFFFFFF)
        src.emit("push-buffer", Gst.Buffer.new_wrapped(frame))
        return True

    GLib.timeout_add(1000 // FPS, push)


# The sound beside the picture (--audio): a 440 Hz tone, as live as the picture.
TONE = " audiotestsrc is-live=true wave=sine freq=440 ! audio/x-raw,rate={},channels=1 ! "
audio = {
    None: "",
    "aac": TONE.format(16000) + "audioconvert ! voaacenc ! rtpmp4gpay name=pay1 pt=97",
    "pcmu": TONE.format(8000) + "mulawenc ! rtppcmupay name=pay1",
    "pcma": TONE.format(8000) + "alawenc ! rtppcmapay name=pay1",
}[args.audio]

for n in range(1, args.mounts + 1):
    factory = GstRtspServer.RTSPMediaFactory()
    if args.pattern == "clock":
        source = (
            "appsrc name=clock is-live=true do-timestamp=true format=time "
            f"caps=video/x-raw,format=I420,width={width},height={height},framerate={FPS}/1"
        )
        factory.connect("media-configure", feed_clock)
    else:
        source = (
            f"videotestsrc is-live=true pattern={args.pattern} ! "
            f"video/x-raw,width={width},height={height},framerate={FPS}/1{FORMAT}"
        )
    factory.set_launch(
        f"( {source} ! {encoder}{audio} )"
    )
    factory.set_shared(True)
    if args.digest:
        factory.add_role_from_structure(
            Gst.Structure.new_from_string(
                "user, media.factory.access=(boolean)true, media.factory.construct=(boolean)true"
            )
        )
    server.get_mount_points().add_factory(f"/live/cam{n}", factory)
if args.recording:
    # A recording is not live: a session plays it from its start, each session its own, as fast
    # as the encoder runs when the client asks Rate-Control: no (GStreamer's ONVIF client).
    recording = GstRtspServer.RTSPOnvifMediaFactory()
    recording.set_replay_support(True)
    recording.set_media_gtype(GstRtspServer.RTSPOnvifMedia.__gtype__)
    pattern = "ball" if args.pattern == "clock" else args.pattern
    recording.set_launch(
        f"( videotestsrc is-live=false pattern={pattern} ! "
        f"video/x-raw,width={width},height={height},framerate={FPS}/1{FORMAT} ! {encoder}"
        + audio.replace("is-live=true", "is-live=false")  # recorded sound, as fast as the picture
        + " )"
    )
    if args.digest:
        recording.add_role_from_structure(
            Gst.Structure.new_from_string(
                "user, media.factory.access=(boolean)true, media.factory.construct=(boolean)true"
            )
        )
    server.get_mount_points().add_factory("/recording/cam1", recording)
if args.digest:
    user, password = args.digest.split(":", 1)
    auth = GstRtspServer.RTSPAuth()
    auth.set_supported_methods(GstRtsp.RTSPAuthMethod.DIGEST)
    token = GstRtspServer.RTSPToken()
    token.set_string("media.factory.role", "user")
    auth.add_digest(user, password, token)
    server.set_auth(auth)
if server.attach(None) == 0:
    raise SystemExit(f"cannot listen on 127.0.0.1:{port}")
print("listening", port, flush=True)
GLib.MainLoop().run()
