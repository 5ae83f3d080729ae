"""Forms: read what a person typed, check it with the API's own request schema, and say what is wrong
next to each field and in a summary at the top.

Each field is checked with the type of the same field of the domain's msgspec schema (its length,
pattern and range), one by one so that every wrong field is reported at once; nothing of those rules is
written again here. The domain's refusals (``DomainError``) are added after the service has spoken: its
field errors go to their fields, the rest to the summary.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import msgspec
from sqlalchemy.ext.asyncio import AsyncSession

from core.errors import DomainError
from core.i18n import Message
from web.i18n import t

S = TypeVar("S", bound=msgspec.Struct)


@dataclass(frozen=True, slots=True)
class FieldSpec:
    """How a schema field is presented: its label and the message when its value does not fit."""

    label_key: str
    invalid_key: str = "web.field.invalid"
    strip: bool = True  # never for passwords: a space is a character like any other


@dataclass
class FormState:
    """What was typed and what is wrong, in the page's language, for the form macros."""

    locale: str
    values: dict[str, str] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    general: list[str] = field(default_factory=list)
    order: tuple[str, ...] = ()

    @property
    def has_errors(self) -> bool:
        return bool(self.errors or self.general)

    @property
    def summary(self) -> list[tuple[str | None, str]]:
        """Messages for the summary: those without a field first, then each field's in form order."""
        items: list[tuple[str | None, str]] = [(None, text) for text in self.general]
        items += [(name, self.errors[name]) for name in self.order if name in self.errors]
        items += [(name, text) for name, text in self.errors.items() if name not in self.order]
        return items

    def value(self, name: str) -> str:
        return self.values.get(name, "")

    def add(self, name: str | None, text: str) -> None:
        if name is None:
            self.general.append(text)
        else:
            self.errors.setdefault(name, text)

    def add_domain_error(self, error: DomainError, *, field_of_code: Mapping[str, str] | None = None) -> None:
        """A refusal of the service: its field errors at their fields, else its message (at the field
        ``field_of_code`` names for its code, e.g. ``{"conflict": "email"}``, or in the summary)."""
        if error.errors:
            for item in error.errors:
                message = item.get("message", "")
                text = message.render(self.locale) if isinstance(message, Message) else str(message)
                name = str(item.get("field", ""))
                self.add(name if name in self.order else None, text)
            return
        self.add((field_of_code or {}).get(error.code), error.message.render(self.locale))


class Form(Generic[S]):
    """A form bound to a request schema: ``Form(RegisterRequest, {"email": FieldSpec(...), ...})``."""

    def __init__(self, schema: type[S], fields: Mapping[str, FieldSpec]) -> None:
        self.schema = schema
        self.fields = dict(fields)
        self._types = {f.name: f for f in msgspec.structs.fields(schema)}
        unknown = set(self.fields) - set(self._types)
        if unknown:
            raise ValueError(f"{schema.__name__} has no fields {sorted(unknown)}")

    def blank(self, locale: str, **values: str) -> FormState:
        return FormState(locale=locale, values=dict(values), order=tuple(self.fields))

    def parse(self, data: Mapping[str, Any], locale: str) -> tuple[S | None, FormState]:
        """The schema instance, or ``None`` and what is wrong with which field."""
        state = self.blank(locale)
        converted: dict[str, Any] = {}
        for name, spec in self.fields.items():
            raw = data.get(name, "")
            raw = raw if isinstance(raw, str) else ""
            value = raw.strip() if spec.strip else raw
            state.values[name] = value if spec.strip else ""  # a password is never sent back to the page
            label = t(locale, spec.label_key)
            schema_field = self._types[name]
            if value == "":
                if schema_field.required:
                    state.add(name, t(locale, "web.field.required", label=label))
                continue
            try:
                converted[name] = msgspec.convert(value, schema_field.type, strict=False)
            except msgspec.ValidationError:
                state.add(name, t(locale, spec.invalid_key, label=label))
        if state.has_errors:
            return None, state
        try:
            return msgspec.convert(converted, self.schema, strict=False), state
        except msgspec.ValidationError as exc:
            state.add(None, str(exc))
            return None, state


@dataclass
class Refusal:
    """What ``attempt`` caught: the service's refusal, or ``None`` when it did its work."""

    error: DomainError | None = None

    def __bool__(self) -> bool:
        return self.error is not None


@asynccontextmanager
async def attempt(session: AsyncSession) -> AsyncIterator[Refusal]:
    """A service call whose refusal the page shows (the form again, 422) instead of raising it.

    The request's unit of work commits whatever answer the handler returns, so a refusal caught here
    would otherwise commit what the service wrote before it refused: the call runs in a savepoint that
    a refusal rolls back.

        async with attempt(db_session) as refused:
            booking = await service.book(user, data)
        if refused:
            form.add_domain_error(refused.error)
    """
    refusal = Refusal()
    savepoint = await session.begin_nested()
    try:
        yield refusal
    except DomainError as error:
        # Also when a failed flush inside left it inactive (a unique constraint's refusal) but still the
        # session's current savepoint: rolled back, the request's transaction goes on. Only a savepoint
        # the call itself ended is left alone.
        current = session.sync_session.get_nested_transaction()
        if savepoint.is_active or current is savepoint.sync_transaction:
            await savepoint.rollback()
        refusal.error = error
    else:
        if savepoint.is_active:
            await savepoint.commit()
