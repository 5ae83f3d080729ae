"""Refusals of the booking engine, each with the stable ``code`` of API.md."""

from __future__ import annotations

from core.errors import Conflict, DomainError


class SoldOut(DomainError):
    code, status = "sold_out", 409
    title = "남은 자리가 없습니다 (No places left)"


class AlreadyBooked(DomainError):
    code, status = "already_booked", 409
    title = "이미 예약했습니다 (You already hold a booking for this)"


class Overlap(DomainError):
    code, status = "overlap", 409
    title = "같은 시간에 다른 예약이 있습니다 (You have another booking at that time)"


class WindowClosed(DomainError):
    code, status = "window_closed", 409
    title = "예약 가능 기간이 아닙니다 (Outside the booking window)"


class QuotaExceeded(DomainError):
    code, status = "quota_exceeded", 409
    title = "이번 주 예약 한도를 넘었습니다 (Weekly booking quota used up)"


class Suspended(DomainError):
    code, status = "suspended", 409
    title = "노쇼로 예약이 정지되었습니다 (Booking suspended after repeated no-shows)"


class NotEligible(DomainError):
    code, status = "not_eligible", 409
    title = "참여 대상이 아닙니다 (Not eligible)"


class Closed(DomainError):
    code, status = "closed", 409
    title = "휴관 또는 운영하지 않는 시간입니다 (Closed at that time)"


class TooLateToCancel(DomainError):
    code, status = "too_late_to_cancel", 409
    title = "취소 가능 시간이 지났습니다 (Too late to cancel)"


class OfferExpired(DomainError):
    code, status = "offer_expired", 409
    title = "대기 순번 제안이 만료되었습니다 (The waitlist offer has expired)"


class InvalidTransition(Conflict):
    title = "이 예약 상태에서는 할 수 없습니다 (Not possible in the booking's current status)"


class IdempotencyMismatch(Conflict):
    title = "같은 Idempotency-Key 로 다른 요청을 보냈습니다 (Idempotency-Key reused for another request)"
