"""A real SMTP server for the tests (aiosmtpd, Debian's python3-aiosmtpd) on 127.0.0.1, port 0.

Prints {"ready": PORT} once listening, then one JSON line per message it accepts: the envelope,
whether the session ran TLS and who signed in, and the message as Python's own email parser
reads it (headers decoded, the text and HTML bodies, each attachment's bytes in base64): an
independent reading of what the cloud wrote. Driven by the environment
(never the command line, which other processes can read):

  SMTP_TLS_CERT, SMTP_TLS_KEY  a certificate: STARTTLS offered and required (or, with
                               SMTP_IMPLICIT_TLS=1, TLS from the first byte)
  SMTP_USER, SMTP_PASSWORD     sign-in required (AUTH PLAIN/LOGIN)
  SMTP_REJECT                  a recipient refused with 550 (for good)
  SMTP_DEFER                   a recipient deferred with 450 (try again later: greylisting)
"""
import asyncio
import base64
import email
import email.policy
import json
import logging
import os
import ssl
import warnings

from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword

CERT = os.environ.get("SMTP_TLS_CERT")
KEY = os.environ.get("SMTP_TLS_KEY")
IMPLICIT = os.environ.get("SMTP_IMPLICIT_TLS") == "1"
USER = os.environ.get("SMTP_USER")
PASSWORD = os.environ.get("SMTP_PASSWORD")
REJECT = os.environ.get("SMTP_REJECT", "").lower()
DEFER = os.environ.get("SMTP_DEFER", "").lower()

# Sign-in over plain TCP is what some tests ask for on purpose: no warning about it in the output.
warnings.filterwarnings("ignore")
logging.getLogger("mail.log").setLevel(logging.ERROR)


class Handler:
    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if REJECT and address.lower() == REJECT:
            return "550 5.1.1 <%s>: Recipient address rejected: User unknown" % address
        if DEFER and address.lower() == DEFER:
            return "450 4.2.0 <%s>: Recipient address rejected: Greylisted" % address
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server, session, envelope):
        login = session.auth_data
        msg = email.message_from_bytes(envelope.original_content, policy=email.policy.default)
        text = msg.get_body(preferencelist=("plain",))
        html = msg.get_body(preferencelist=("html",))
        print(
            json.dumps(
                {
                    "from": envelope.mail_from,
                    "to": envelope.rcpt_tos,
                    "tls": session.ssl is not None,
                    "login": login.decode() if isinstance(login, bytes) else login,
                    "headers": {k.lower(): str(v) for k, v in msg.items()},
                    "text": text.get_content() if text else None,
                    "html": html.get_content() if html else None,
                    "attachments": [
                        {
                            "type": part.get_content_type(),
                            "cid": part.get("Content-ID"),
                            "filename": part.get_filename(),
                            "base64": base64.b64encode(part.get_payload(decode=True)).decode(),
                        }
                        for part in msg.walk()
                        if part.get_content_maintype() == "image"
                    ],
                }
            ),
            flush=True,
        )
        return "250 2.0.0 Ok: queued"


def authenticator(server, session, envelope, mechanism, auth_data):
    if (
        isinstance(auth_data, LoginPassword)
        and auth_data.login.decode() == USER
        and auth_data.password.decode() == PASSWORD
    ):
        return AuthResult(success=True, auth_data=USER)
    return AuthResult(success=False, handled=False)


async def main():
    tls = None
    if CERT:
        tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        tls.load_cert_chain(CERT, KEY)
    starttls = tls if tls and not IMPLICIT else None

    def factory():
        return SMTP(
            Handler(),
            hostname="mail.test",
            tls_context=starttls,
            require_starttls=starttls is not None,
            authenticator=authenticator if USER else None,
            auth_required=bool(USER),
            auth_require_tls=tls is not None,
        )

    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        factory, "127.0.0.1", 0, ssl=tls if IMPLICIT else None
    )
    print(json.dumps({"ready": server.sockets[0].getsockname()[1]}), flush=True)
    await server.serve_forever()


asyncio.run(main())
