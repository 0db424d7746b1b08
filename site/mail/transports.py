"""Ways to hand a mail over. Each `send` is a coroutine that raises on failure.

SMTP runs on the event loop (aiosmtplib, through emails' async backend): no thread, so a
worker's requests never wait on a sender thread for the interpreter lock."""

from __future__ import annotations

import logging
import secrets
import time
from dataclasses import dataclass
from email.utils import parseaddr
from pathlib import Path
from typing import Protocol
from urllib.parse import parse_qs, unquote, urlsplit

from emails.backend.smtp.aio_backend import AsyncSMTPBackend
from emails.message import Message as MimeMessage

from keyfob.mail.messages import Message

log = logging.getLogger("keyfob.mail")


class MailTransport(Protocol):
    async def send(self, message: Message, *, mail_from: str) -> None: ...


class DeliveryFailed(Exception):
    """The server refused or could not be reached; the mail stays queued."""


def build_mime(message: Message, *, mail_from: str) -> MimeMessage:
    name, addr = parseaddr(mail_from)
    return MimeMessage(
        subject=message.subject,
        text=message.text,
        html=message.html,
        mail_from=(name, addr),
        mail_to=message.to,
    )


@dataclass(frozen=True)
class SmtpTransport:
    """Any SMTP server: smtp://user:pass@host:port, smtps://…, or ?starttls=true."""

    host: str
    port: int
    ssl: bool
    starttls: bool
    user: str | None
    password: str | None
    timeout: float

    @classmethod
    def from_url(cls, url: str, *, timeout: float) -> SmtpTransport:
        parts = urlsplit(url)
        if parts.scheme not in {"smtp", "smtps"} or not parts.hostname:
            raise ValueError(f"KEYFOB_SMTP_URL={url!r} is not smtp://host:port or smtps://…")
        query = parse_qs(parts.query)
        starttls = query.get("starttls", ["false"])[0].lower() in {"1", "true", "yes"}
        return cls(
            host=parts.hostname,
            port=parts.port or (465 if parts.scheme == "smtps" else 25),
            ssl=parts.scheme == "smtps",
            starttls=starttls,
            user=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
            timeout=timeout,
        )

    async def send(self, message: Message, *, mail_from: str) -> None:
        backend = AsyncSMTPBackend(
            host=self.host,
            port=self.port,
            ssl=self.ssl,
            tls=self.starttls,
            user=self.user,
            password=self.password,
            timeout=self.timeout,
            fail_silently=True,
            local_hostname="localhost",
        )
        try:
            response = await build_mime(message, mail_from=mail_from).send_async(smtp=backend)
        finally:
            await backend.close()
        if not response or not response.success:
            error = getattr(response, "error", None) or "no response"
            raise DeliveryFailed(f"SMTP {self.host}:{self.port}: {error}")


@dataclass(frozen=True)
class ConsoleTransport:
    """Development mailbox: logs the mail and keeps a copy under var/mailbox/ for the dev page."""

    folder: Path

    async def send(self, message: Message, *, mail_from: str) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        mime = build_mime(message, mail_from=mail_from)
        name = f"{time.time_ns()}-{secrets.token_hex(4)}.eml"
        (self.folder / name).write_text(mime.as_string())
        log.warning("Mail to %s: %s\n%s", message.to, message.subject, message.text)
