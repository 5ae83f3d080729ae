"""The words of a message: subject and text from the catalogue's templates, Korean first, then English.

A notice's own texts (stored in both languages) are framed by the lines of ``mail.*`` or ``sms.*``:
a greeting, the booking's time in Seoul, the venue's name and address, and a link to the booking's page.
Each line is a catalogue entry with brace fields, so that the words live with every other message.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from core.clock import to_kst
from core.i18n import translate
from notifications.models import ChannelName, Notice

SEPARATOR = "―" * 24


@dataclass(frozen=True, slots=True)
class About:
    """What a notice is about, as its messages show it: a booking's time and place."""

    booking_id: int
    starts_at: datetime
    venue: str
    venue_en: str
    address: str

    def to_facts(self) -> dict[str, Any]:
        return {
            "booking_id": self.booking_id,
            "starts_at": self.starts_at.isoformat(),
            "venue": self.venue,
            "venue_en": self.venue_en,
            "address": self.address,
        }

    @classmethod
    def from_facts(cls, facts: dict[str, Any] | None) -> About | None:
        if not facts:
            return None
        return cls(
            booking_id=int(facts["booking_id"]),
            starts_at=datetime.fromisoformat(str(facts["starts_at"])),
            venue=str(facts.get("venue", "")),
            venue_en=str(facts.get("venue_en", "")) or str(facts.get("venue", "")),
            address=str(facts.get("address", "")),
        )


@dataclass(frozen=True, slots=True)
class Words:
    subject: str
    text: str


def _weekday(when: datetime, locale: str) -> str:
    names = translate("mail.weekdays", locale).split(",")
    return names[when.weekday()] if len(names) == 7 else ""


def link_of(base_url: str, about: About | None) -> str:
    """The page of the booking (API.md's web paths), or of all my bookings when there is none."""
    base = base_url.rstrip("/")
    return f"{base}/me/bookings/{about.booking_id}" if about is not None else f"{base}/me/bookings"


def _fields(about: About | None, locale: str, base_url: str, name: str) -> dict[str, Any]:
    fields: dict[str, Any] = {"name": name, "link": link_of(base_url, about)}
    if about is not None:
        when = to_kst(about.starts_at)
        fields.update(
            starts_at=when,
            weekday=_weekday(when, locale),
            venue=about.venue if locale == "ko" else about.venue_en,
            address=about.address,
        )
    return fields


def _mail_part(notice: Notice, about: About | None, locale: str, base_url: str, name: str) -> list[str]:
    fields = _fields(about, locale, base_url, name)
    title, body = (notice.title, notice.body) if locale == "ko" else (notice.title_en, notice.body_en)
    lines = [translate("mail.greeting", locale, **fields), "", title]
    if body:
        lines.append(body)
    lines.append("")
    if about is not None:
        lines += [translate("mail.when", locale, **fields), translate("mail.where", locale, **fields)]
        lines.append(translate("mail.link", locale, **fields))
    else:
        lines.append(translate("mail.link_all", locale, **fields))
    lines += ["", translate("mail.footer", locale, **fields)]
    return lines


def compose(channel: str, notice: Notice, facts: dict[str, Any], base_url: str) -> Words:
    """The subject and text of ``notice`` for ``channel``, from the facts its outbox row keeps."""
    about = About.from_facts(facts.get("about"))
    name = str(facts.get("name", ""))
    subject = f"{translate('mail.subject', 'ko', title=notice.title)} / {notice.title_en}"
    if channel == ChannelName.SMS:
        lines: list[str] = []
        for locale in ("ko", "en"):
            fields = _fields(about, locale, base_url, name)
            title = notice.title if locale == "ko" else notice.title_en
            lines.append(translate("sms.head", locale, title=title))
            if about is not None:
                lines.append(translate("sms.when", locale, **fields))
        lines.append(link_of(base_url, about))
        return Words(subject=subject, text="\n".join(lines))
    text = "\n".join(
        [
            *_mail_part(notice, about, "ko", base_url, name),
            "",
            SEPARATOR,
            "",
            *_mail_part(notice, about, "en", base_url, name),
        ]
    )
    return Words(subject=subject, text=text + "\n")
