"""WebKit, Safari's engine (WebKitGTK), as a second real browser for the end-to-end tests.

Reads one JSON object on standard input (the session cookie stays off the command line):
{"origin", "cookie": "name=value" | null, "path", "until": JS expression, "probe": JS expression
giving a JSON string, "timeoutS"}. Signs in with the cookie (HttpOnly, as the cloud sets it),
opens origin + path, evaluates `until` every 250 ms, and prints "RESULT <probe>" once it is true
(exit 0) or "TIMEOUT <probe>" when timeoutS passed first (exit 1). Run under xvfb-run: WebKitGTK
needs a display. Page console lines go to standard output, for the test's failure message.
"""
import json
import sys

import gi

gi.require_version("Gtk", "3.0")
gi.require_version("WebKit2", "4.1")
gi.require_version("Soup", "3.0")
from gi.repository import GLib, Gtk, Soup, WebKit2  # noqa: E402

cfg = json.load(sys.stdin)
window = Gtk.Window()
window.set_default_size(1280, 800)
view = WebKit2.WebView()
window.add(view)
settings = view.get_settings()
settings.set_enable_mediasource(True)
settings.set_media_playback_requires_user_gesture(False)
settings.set_enable_write_console_messages_to_stdout(True)
window.show_all()
outcome = {"code": 1}


def finish(word, code):
    def done(_view, result):
        try:
            value = view.evaluate_javascript_finish(result).to_string()
        except GLib.Error as e:
            value = json.dumps({"probeError": e.message})
        print(f"{word} {value}", flush=True)
        outcome["code"] = code
        Gtk.main_quit()

    view.evaluate_javascript(cfg["probe"], -1, None, None, None, done)


def poll():
    def checked(_view, result):
        try:
            ok = view.evaluate_javascript_finish(result).to_boolean()
        except GLib.Error:
            ok = False
        if ok:
            finish("RESULT", 0)
        else:
            GLib.timeout_add(250, poll)

    view.evaluate_javascript(f"!!({cfg['until']})", -1, None, None, None, checked)
    return False


def timeout():
    finish("TIMEOUT", 1)
    return False


def open_page(*_):
    view.load_uri(cfg["origin"] + cfg["path"])
    GLib.timeout_add(500, poll)
    GLib.timeout_add_seconds(int(cfg["timeoutS"]), timeout)


if cfg.get("cookie"):
    name, value = cfg["cookie"].split("=", 1)
    host = GLib.Uri.parse(cfg["origin"], GLib.UriFlags.NONE).get_host()
    cookie = Soup.Cookie.new(name, value, host, "/", -1)
    cookie.set_http_only(True)
    manager = view.get_website_data_manager().get_cookie_manager()
    manager.add_cookie(cookie, None, lambda m, r: (m.add_cookie_finish(r), open_page()))
else:
    open_page()
Gtk.main()
sys.exit(outcome["code"])
