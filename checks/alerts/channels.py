"""Channel kinds: a dict of small classes with one verb, `notify` (healthchecks'
`transports.py`). A failure raises `ChannelError`, which says whether it is permanent
(a 4xx from a webhook, a refused address: retrying cannot help, the channel is marked
broken) or transient (a 5xx, a timeout, a refused connection: retried with backoff).

Error messages never carry the target: webhook URLs hold tokens.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import smtplib
import urllib.error
import urllib.request

from django.conf import settings
from django.core.mail import send_mail

TIMEOUT_S = 10
# Answers that say "later", not "never".
TRANSIENT_4XX = {408, 425, 429}


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
        request = urllib.request.Request(self.target, data=data, headers=headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=TIMEOUT_S) as response:
                response.read()
        except urllib.error.HTTPError as exc:
            permanent = 400 <= exc.code < 500 and exc.code not in TRANSIENT_4XX
            raise ChannelError(f"HTTP {exc.code}", permanent=permanent) from exc
        except (TimeoutError, urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise ChannelError(f"not delivered: {type(reason).__name__}") from exc
        except ValueError as exc:  # not a URL urllib can open
            raise ChannelError("not a valid webhook URL", permanent=True) from exc


class Slack(Webhook):
    """A Slack-compatible incoming webhook (Slack, Mattermost, Rocket.Chat…)."""

    def body(self, message):
        return {"text": f"*{message['title']}*\n{message['text']}"}


CHANNELS: dict[str, type[Transport]] = {"email": Email, "webhook": Webhook, "slack": Slack}


def transport(kind: str, target: str, secret: str = "") -> Transport:
    return CHANNELS[kind](kind, target, secret)
