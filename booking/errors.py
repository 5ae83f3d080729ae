"""Refusals of the booking engine, each with the stable ``code`` of API.md (titles in the catalogue)."""

from __future__ import annotations

from core.errors import DomainError, InvalidTransition

__all__ = [
    "AlreadyBooked",
    "Closed",
    "IdempotencyMismatch",
    "InvalidTransition",
    "NotEligible",
    "OfferExpired",
    "Overlap",
    "QuotaExceeded",
    "SoldOut",
    "Suspended",
    "TooLateToCancel",
    "WindowClosed",
]


class SoldOut(DomainError):
    code, status = "sold_out", 409


class AlreadyBooked(DomainError):
    code, status = "already_booked", 409


class Overlap(DomainError):
    code, status = "overlap", 409


class WindowClosed(DomainError):
    code, status = "window_closed", 409


class QuotaExceeded(DomainError):
    code, status = "quota_exceeded", 409


class Suspended(DomainError):
    code, status = "suspended", 409


class NotEligible(DomainError):
    code, status = "not_eligible", 409


class Closed(DomainError):
    code, status = "closed", 409


class TooLateToCancel(DomainError):
    code, status = "too_late_to_cancel", 409


class OfferExpired(DomainError):
    code, status = "offer_expired", 409


class IdempotencyMismatch(DomainError):
    code, status = "idempotency_mismatch", 409
