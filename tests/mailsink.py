"""A real SMTP server for tests: aiosmtpd on 127.0.0.1, keeping what it receives."""

from __future__ import annotations

import asyncio
import re
import socket
import threading
import time
from collections.abc import Callable
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

CODE_LINE = re.compile(r"^(\d{6})$", re.MULTILINE)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class _Handler:
    def __init__(self, sink: MailSink) -> None:
        self.sink = sink

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        if self.sink.delay:
            await asyncio.sleep(self.sink.delay)
        parsed = message_from_bytes(bytes(envelope.content or b""), policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        with self.sink.lock:
            self.sink.messages.append(parsed)
        return "250 OK"


class MailSink:
    """Start with `start()`, stop with `stop()`; `wait_for(to)` returns the newest mail to `to`."""

    def __init__(self, port: int | None = None, *, delay: float = 0.0) -> None:
        """`delay`: seconds the server takes to accept each message, like a slow relay."""
        self.port = port or free_port()
        self.delay = delay
        self.messages: list[EmailMessage] = []
        self.lock = threading.Lock()
        self._controller: Controller | None = None

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}"

    def start(self) -> None:
        self._controller = Controller(_Handler(self), hostname="127.0.0.1", port=self.port)
        self._controller.start()

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def to(self, address: str) -> list[EmailMessage]:
        with self.lock:
            return [m for m in self.messages if address.lower() in str(m["To"]).lower()]

    def wait_for(
        self,
        address: str,
        *,
        count: int = 1,
        timeout: float = 10.0,
        pump: Callable[[], Any] | None = None,
    ) -> EmailMessage:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = self.to(address)
            if len(found) >= count:
                return found[-1]
            if pump is not None:
                pump()
            time.sleep(0.05)
        raise AssertionError(f"no mail #{count} to {address} within {timeout}s")


def text_of(mail: EmailMessage) -> str:
    body = mail.get_body(preferencelist=("plain",))
    assert body is not None, "mail has no text part"
    content: str = body.get_content()
    return content


def html_of(mail: EmailMessage) -> str:
    body = mail.get_body(preferencelist=("html",))
    assert body is not None, "mail has no HTML part"
    content: str = body.get_content()
    return content


def code_in(mail: EmailMessage) -> str:
    """The six-digit code, which the contract puts alone on its line in the text part."""
    found = CODE_LINE.findall(text_of(mail))
    assert len(found) == 1, f"expected one code line, found {found!r}"
    code: str = found[0]
    return code
