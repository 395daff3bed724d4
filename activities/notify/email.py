"""Email over SMTP (smtplib, run in a thread: it blocks). Settings through
`activities.secrets.get_secret`: ``SMTP_HOST`` (required), ``SMTP_PORT`` (587), ``SMTP_USER``
and ``SMTP_PASSWORD`` (login when both are set), ``SMTP_FROM`` (the sender; default
``bizos@<host>``), ``SMTP_TLS`` (``starttls`` — the default on 587 —, ``ssl`` — the default on
465 —, or ``none``).

Each message has a ``Message-ID`` derived from the event and the recipient, so a message a
retried attempt sends again can be told apart from a new one. Refusals by the server (5xx,
rejected recipients or sender, bad login) are not retried; connection trouble and 4xx are."""

from __future__ import annotations

import smtplib
import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate

from activities.notify.message import Notice

HOST, PORT, USER, PASSWORD, SENDER, TLS = (
    "SMTP_HOST",
    "SMTP_PORT",
    "SMTP_USER",
    "SMTP_PASSWORD",
    "SMTP_FROM",
    "SMTP_TLS",
)


@dataclass(frozen=True)
class SmtpSettings:
    host: str
    port: int
    user: str | None
    password: str | None = None
    sender: str = ""
    tls: str = "starttls"

    def __repr__(self) -> str:  # never the password
        return f"SmtpSettings(host={self.host!r}, port={self.port}, tls={self.tls!r})"


class EmailError(Exception):
    def __init__(self, message: str, *, retryable: bool):
        super().__init__(message)
        self.retryable = retryable


def settings() -> SmtpSettings | None:
    """From the secrets store; None when ``SMTP_HOST`` is not set. Blocking (Vault)."""
    from activities.secrets import get_secret

    host = get_secret(HOST)
    if not host:
        return None
    raw_port = get_secret(PORT) or "587"
    try:
        port = int(raw_port)
    except ValueError:
        raise EmailError(f"{PORT} is not a port number: {raw_port!r}", retryable=False) from None
    tls = (get_secret(TLS) or {465: "ssl", 587: "starttls"}.get(port, "none")).lower()
    if tls not in ("starttls", "ssl", "none"):
        raise EmailError(f"{TLS} must be starttls, ssl or none, not {tls!r}", retryable=False)
    return SmtpSettings(
        host=host,
        port=port,
        user=get_secret(USER),
        password=get_secret(PASSWORD),
        sender=get_secret(SENDER) or f"bizos@{host}",
        tls=tls,
    )


def build(notice: Notice, sender: str, to: str, message_id: str) -> EmailMessage:
    msg = EmailMessage()
    msg["Subject"] = notice.subject
    msg["From"] = sender
    msg["To"] = to
    msg["Date"] = formatdate(usegmt=True)
    msg["Message-ID"] = message_id
    msg.set_content(notice.text)
    msg.add_alternative(f"<html><body>{notice.html}</body></html>", subtype="html")
    return msg


def send(smtp: SmtpSettings, msg: EmailMessage, *, timeout_s: float = 20.0) -> None:
    """Blocking: run it in a thread."""
    try:
        server: smtplib.SMTP
        if smtp.tls == "ssl":
            server = smtplib.SMTP_SSL(
                smtp.host, smtp.port, timeout=timeout_s, context=ssl.create_default_context()
            )
        else:
            server = smtplib.SMTP(smtp.host, smtp.port, timeout=timeout_s)
        with server:
            if smtp.tls == "starttls":
                server.starttls(context=ssl.create_default_context())
            if smtp.user and smtp.password:
                server.login(smtp.user, smtp.password)
            server.send_message(msg)
    except smtplib.SMTPAuthenticationError as e:
        raise EmailError(f"SMTP login refused ({e.smtp_code})", retryable=False) from None
    except smtplib.SMTPRecipientsRefused:
        raise EmailError("the SMTP server refused the recipient", retryable=False) from None
    except smtplib.SMTPSenderRefused as e:
        raise EmailError(f"the SMTP server refused sender {e.sender}", retryable=False) from None
    except smtplib.SMTPResponseException as e:
        raise EmailError(
            f"SMTP server answered {e.smtp_code}: {e.smtp_error[:200]!r}",
            retryable=e.smtp_code < 500,
        ) from None
    except (smtplib.SMTPException, OSError) as e:
        raise EmailError(
            f"SMTP server unreachable: {type(e).__name__}: {e}", retryable=True
        ) from None
