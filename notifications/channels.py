"""The ways a message leaves the service, behind one interface: ``Channel.send(message)`` returns when the
message was handed over and raises when it was not.

- ``email``: SMTP through aiosmtplib (``SEOULRUN_SMTP_*``); with no host configured, the log.
- ``sms``: an adapter around a city's SMS or KakaoTalk (알림톡) gateway (``SmsGateway``), plugged in with
  ``SEOULRUN_SMS_GATEWAY=package.module:factory``; ``log`` (the default) writes to the log.

A failure is temporary unless the channel says otherwise (``DeliveryFailed(permanent=True)``: an address
the server refuses for good); temporary failures are tried again with backoff by the delivery job.
"""

from __future__ import annotations

import importlib
import logging
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate
from typing import Protocol

import aiosmtplib

from core.settings import Settings
from notifications.models import ChannelName

log = logging.getLogger("seoulrun.outbox")


class DeliveryFailed(Exception):
    """A channel could not hand the message over; ``permanent`` when trying again cannot help."""

    def __init__(self, reason: str, *, permanent: bool = False) -> None:
        super().__init__(reason)
        self.permanent = permanent


@dataclass(frozen=True, slots=True)
class Outgoing:
    """One message as a channel sends it. ``key`` is the same on every try of one outbox row (the
    e-mail's Message-ID, an SMS gateway's client reference), so that a receiver can drop a repeat."""

    channel: str
    to: str
    subject: str
    text: str
    key: str


class Channel(Protocol):
    async def send(self, message: Outgoing) -> None:
        """Hand ``message`` over, or raise: ``DeliveryFailed`` or any other exception (temporary)."""


class LogChannel:
    """Development: the message is written to the log (``seoulrun.outbox``) instead of being sent."""

    def __init__(self, name: str) -> None:
        self.name = name

    async def send(self, message: Outgoing) -> None:
        log.info("%s to %s (%s)\nSubject: %s\n\n%s", self.name, message.to, message.key, message.subject, message.text)


class EmailChannel:
    """E-mail over SMTP: one connection per message, STARTTLS unless ``SEOULRUN_SMTP_STARTTLS=0``."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def build(self, message: Outgoing) -> EmailMessage:
        email = EmailMessage()  # the default policy encodes Korean headers (RFC 2047) and text as UTF-8
        email["From"] = self.settings.smtp_from
        email["To"] = message.to
        email["Subject"] = message.subject
        email["Message-ID"] = message.key
        email["Date"] = formatdate(usegmt=True)
        email["Auto-Submitted"] = "auto-generated"  # RFC 3834: no auto-replies, please
        email.set_content(message.text)
        return email

    async def send(self, message: Outgoing) -> None:
        s = self.settings
        try:
            await aiosmtplib.send(
                self.build(message),
                hostname=s.smtp_host,
                port=s.smtp_port,
                username=s.smtp_user or None,
                password=s.smtp_password or None,
                start_tls=s.smtp_starttls,
                timeout=s.smtp_timeout_seconds,
            )
        except aiosmtplib.SMTPRecipientsRefused as exc:
            # RFC 5321 4.2.1: 5yz replies are permanent, 4yz ones transient.
            permanent = all(r.code >= 500 for r in exc.recipients)
            raise DeliveryFailed(f"recipient refused: {exc}", permanent=permanent) from exc
        except (aiosmtplib.SMTPSenderRefused, aiosmtplib.SMTPDataError) as exc:
            raise DeliveryFailed(f"SMTP {exc.code}: {exc.message}", permanent=exc.code >= 500) from exc


class SmsGateway(Protocol):
    """What a city's SMS or KakaoTalk gateway implements to carry notices to phones.

    ``send_text`` returns once the gateway has accepted the text for ``phone`` (as the account holds it,
    e.g. ``010-1234-5678`` or ``+82 10 1234 5678``), and raises ``DeliveryFailed(permanent=True)`` for a
    number that can never receive it; any other exception is tried again later. ``key`` is the same on
    every try of one message: pass it to the provider as its client reference where it deduplicates.
    Plug one in with ``SEOULRUN_SMS_GATEWAY=package.module:factory``, ``factory(settings)`` returning it.
    """

    async def send_text(self, phone: str, text: str, *, key: str) -> None: ...


class LogSmsGateway:
    """Development: texts are written to the log."""

    async def send_text(self, phone: str, text: str, *, key: str) -> None:
        log.info("sms to %s (%s)\n%s", phone, key, text)


class SmsChannel:
    def __init__(self, gateway: SmsGateway) -> None:
        self.gateway = gateway

    async def send(self, message: Outgoing) -> None:
        await self.gateway.send_text(message.to, message.text, key=message.key)


def load_gateway(settings: Settings) -> SmsGateway:
    spec = settings.sms_gateway.strip()
    if spec in ("", "log"):
        return LogSmsGateway()
    module_name, _, attribute = spec.partition(":")
    if not attribute:
        raise ValueError(f"SEOULRUN_SMS_GATEWAY must be 'log' or 'package.module:factory', not {spec!r}")
    factory = getattr(importlib.import_module(module_name), attribute)
    gateway: SmsGateway = factory(settings)
    return gateway


def channels_from(settings: Settings) -> dict[str, Channel]:
    email: Channel = EmailChannel(settings) if settings.smtp_host else LogChannel("email")
    return {ChannelName.EMAIL: email, ChannelName.SMS: SmsChannel(load_gateway(settings))}
