"""A real SMTP server (aiosmtpd) on a free 127.0.0.1 port for each test, that can refuse, drop the
connection or answer slowly; settings that point the e-mail channel at it; and an SMS gateway that
records what it is given (plugged in as a city's would be, through ``SEOULRUN_SMS_GATEWAY``)."""

from __future__ import annotations

import asyncio
import dataclasses
import email
import email.policy
import socket
import threading
from collections.abc import Iterator
from email.message import EmailMessage
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from core.settings import Settings
from tests.conftest import Database


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Inbox:
    """The handler of the test's SMTP server: the messages it accepted, and the faults it is told to make."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.messages: list[EmailMessage] = []
        self.refuse = 0  # answer the next DATA commands with 451 (try again later)
        self.drop = 0  # close the connection at the next DATA commands, before accepting
        self.reject_recipients = False  # 550 for every recipient: permanent
        self.delay = 0.0  # seconds to wait before accepting, so that concurrent senders overlap

    # aiosmtpd's hook names are upper case.
    async def handle_RCPT(  # noqa: N802
        self, server: Any, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        if self.reject_recipients:
            return "550 5.1.1 No such mailbox"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        with self.lock:
            if self.drop:
                self.drop -= 1
                server.transport.close()
                return "421 closing"
            if self.refuse:
                self.refuse -= 1
                return "451 4.3.0 Try again later"
        if self.delay:
            await asyncio.sleep(self.delay)
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        with self.lock:
            self.messages.append(message)
        return "250 2.0.0 Accepted"

    def to(self, address: str) -> list[EmailMessage]:
        with self.lock:
            return [m for m in self.messages if m["To"] == address]


class SmtpServer:
    def __init__(self, port: int) -> None:
        self.port = port
        self.inbox = Inbox()
        self.controller: Controller | None = None

    def start(self) -> None:
        self.controller = Controller(self.inbox, hostname="127.0.0.1", port=self.port)
        self.controller.start()

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    server = SmtpServer(free_port())
    server.start()
    yield server
    server.stop()


@pytest.fixture
def smtp_down() -> Iterator[SmtpServer]:
    """A port where no server listens yet (connections are refused); ``start()`` brings it up."""
    server = SmtpServer(free_port())
    yield server
    server.stop()


def mail_settings(db: Database, server: SmtpServer, **overrides: Any) -> Settings:
    fields: dict[str, Any] = {
        "smtp_host": "127.0.0.1",
        "smtp_port": server.port,
        "smtp_starttls": False,
        "smtp_timeout_seconds": 5.0,
        "notify_backoff_seconds": 30,
        "notify_max_attempts": 5,
    }
    fields.update(overrides)
    return dataclasses.replace(db.settings, **fields)


def text_of(message: EmailMessage) -> str:
    body = message.get_body(preferencelist=("plain",))
    assert body is not None
    content = body.get_content()
    assert isinstance(content, str)
    return content


class RecordingGateway:
    """An SMS gateway as a city would plug in: it records what it is asked to send."""

    sent: list[tuple[str, str, str]] = []

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    async def send_text(self, phone: str, text: str, *, key: str) -> None:
        RecordingGateway.sent.append((phone, text, key))


@pytest.fixture
def sms_sent() -> Iterator[list[tuple[str, str, str]]]:
    RecordingGateway.sent = []
    yield RecordingGateway.sent
    RecordingGateway.sent = []


SMS_GATEWAY = "tests.notifications.conftest:RecordingGateway"
