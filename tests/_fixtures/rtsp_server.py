#!/usr/bin/python3
"""A real RTSP camera for the tests: GStreamer's RTSP server (Debian's gir1.2-gst-rtsp-server-1.0)
serving a live H.264 test pattern at /live/cam1 on 127.0.0.1, optionally behind Digest auth
(and, for the bench, more mounts /live/cam2…N, a bitrate, a size and a pattern).
Prints "listening <port>" once ready. Run with /usr/bin/python3 (Debian's python3-gi)."""
import argparse
import socket

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
parser.add_argument("--pattern", default="ball", help="videotestsrc pattern (snow: incompressible)")
args = parser.parse_args()

port = args.port
if port == 0:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()

server = GstRtspServer.RTSPServer()
server.set_address("127.0.0.1")
server.set_service(str(port))
encoder = next(
    e for e in ("x264enc tune=zerolatency speed-preset=ultrafast key-int-max=15", "openh264enc")
    if Gst.ElementFactory.find(e.split()[0])
)
if args.bitrate:
    encoder += (
        f" bitrate={args.bitrate}" if encoder.startswith("x264enc")
        else f" bitrate={args.bitrate * 1000}"
    )
width, height = args.size.split("x")
for n in range(1, args.mounts + 1):
    factory = GstRtspServer.RTSPMediaFactory()
    factory.set_launch(
        f"( videotestsrc is-live=true pattern={args.pattern} ! video/x-raw,width={width},height={height},"
        f"framerate=15/1 ! {encoder} ! rtph264pay name=pay0 pt=96 config-interval=1 )"
    )
    factory.set_shared(True)
    if args.digest:
        factory.add_role_from_structure(
            Gst.Structure.new_from_string(
                "user, media.factory.access=(boolean)true, media.factory.construct=(boolean)true"
            )
        )
    server.get_mount_points().add_factory(f"/live/cam{n}", factory)
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
