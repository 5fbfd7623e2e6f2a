"""Channel kinds: a dict of small classes with one verb, `notify` (healthchecks'
`transports.py`). A failure raises `ChannelError`, which says whether it is permanent
(a 4xx from a webhook, a refused address: retrying cannot help, the channel is marked
broken) or transient (a 5xx, a timeout, a refused connection: retried with backoff).

Error messages never carry the target: webhook URLs hold tokens.
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import json
import smtplib
import threading
from urllib.parse import urlsplit

from django.conf import settings
from django.core.mail import send_mail

TIMEOUT_S = 10
# Answers that say "later", not "never".
TRANSIENT_4XX = {408, 425, 429}
# Each sending thread keeps one connection per host open (HTTP keep-alive).
_local = threading.local()


class ChannelError(Exception):
    def __init__(self, message: str, *, permanent: bool = False):
        super().__init__(message)
        self.permanent = permanent


class Transport:
    def __init__(self, kind: str, target: str, secret: str = ""):
        self.kind, self.target, self.secret = kind, target, secret

    def notify(self, message: dict, idempotency_key: str) -> None:
        raise NotImplementedError


class Email(Transport):
    def notify(self, message, idempotency_key):
        addresses = [a.strip() for a in self.target.split(",") if a.strip()]
        try:
            send_mail(
                message["title"],
                message["text"],
                settings.DEFAULT_FROM_EMAIL,
                addresses,
                fail_silently=False,
            )
        except smtplib.SMTPRecipientsRefused as exc:
            raise ChannelError("the mail server refused the address(es)", permanent=True) from exc
        except (smtplib.SMTPException, OSError) as exc:
            raise ChannelError(f"mail not sent: {type(exc).__name__}") from exc


class Webhook(Transport):
    """POST the message as JSON, with `Idempotency-Key` and, when the channel has a
    secret, `X-OpsHealth-Signature: sha256=<HMAC of the body>`."""

    def body(self, message: dict) -> dict:
        return message

    def notify(self, message, idempotency_key):
        data = json.dumps(self.body(message), separators=(",", ":")).encode()
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "OpsHealth",
            "Idempotency-Key": idempotency_key,
        }
        if self.secret:
            digest = hmac.new(self.secret.encode(), data, hashlib.sha256).hexdigest()
            headers["X-OpsHealth-Signature"] = f"sha256={digest}"
        code = post(self.target, data, headers)
        if not 200 <= code < 300:
            permanent = 300 <= code < 500 and code not in TRANSIENT_4XX
            raise ChannelError(f"HTTP {code}", permanent=permanent)


def post(url: str, data: bytes, headers: dict) -> int:
    """POST on this thread's kept-alive connection to the URL's host; the status code.

    A reused connection the server has closed meanwhile fails at once: that request is
    sent again on a fresh connection (at least once is the contract; the key dedupes).
    """
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ChannelError("not a valid webhook URL", permanent=True)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    connections = _local.__dict__.setdefault("connections", {})
    key = (parts.scheme, parts.netloc)
    if key in connections:
        try:
            return _request(connections, key, path, data, headers)
        except (OSError, http.client.HTTPException):
            pass  # closed while idle: send again on a fresh connection
    cls = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    try:
        connections[key] = cls(parts.hostname, parts.port, timeout=TIMEOUT_S)
    except ValueError as exc:  # a port that is not a number
        raise ChannelError("not a valid webhook URL", permanent=True) from exc
    try:
        return _request(connections, key, path, data, headers)
    except (OSError, http.client.HTTPException) as exc:
        raise ChannelError(f"not delivered: {type(exc).__name__}") from exc


def _request(connections: dict, key: tuple, path: str, data: bytes, headers: dict) -> int:
    conn = connections[key]
    try:
        conn.request("POST", path, body=data, headers=headers)
        response = conn.getresponse()
        response.read()
    except BaseException:
        conn.close()
        del connections[key]
        raise
    if response.will_close:
        conn.close()
        del connections[key]
    return response.status


class Slack(Webhook):
    """A Slack-compatible incoming webhook (Slack, Mattermost, Rocket.Chat…)."""

    def body(self, message):
        return {"text": f"*{message['title']}*\n{message['text']}"}


CHANNELS: dict[str, type[Transport]] = {"email": Email, "webhook": Webhook, "slack": Slack}


def transport(kind: str, target: str, secret: str = "") -> Transport:
    return CHANNELS[kind](kind, target, secret)
