"""Account rules: registration, login, bearer tokens, and accounts made by administrators or the CLI."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Collection, Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any, Final, Protocol, runtime_checkable

import msgspec
from sqlalchemy import Select, bindparam, delete, event, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session, SessionTransaction, joinedload

from accounts import passwords
from accounts.models import VENUE_SCOPED_ROLES, AccessToken, Role, User, VenueAssignment
from accounts.schemas import AccountCreate, AccountRead, AccountUpdate, RegisterRequest
from audit import context as acting
from audit.log import record as audit
from core.clock import to_kst, utcnow
from core.errors import Conflict, NotFound, Unauthenticated, ValidationFailed, field_error
from core.pagination import Page, count
from core.settings import Settings


@runtime_checkable
class VenueDirectory(Protocol):
    """What accounts need to know of venues: which exist. The venue catalogue, a layer above, gives it
    (``venues.directory``); accounts never read the venue tables themselves."""

    async def existing(self, venue_ids: Collection[int]) -> set[int]: ...

    async def by_slug(self, slugs: Collection[str]) -> dict[str, int]: ...


class EmailTaken(Conflict):
    title_key = "title.email_taken"


class WeakPassword(ValidationFailed):
    title_key = "title.weak_password"


def _hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def token_holder(query: Select[Any]) -> Select[Any]:
    """``query`` (of the account) narrowed to the active account that holds a token, valid at a time:
    run it with ``holder_params``. Made once per query and kept (a module constant): an
    authenticated request then builds no SQL of its own to find who it is."""
    return query.join(AccessToken, AccessToken.user_id == User.id).where(
        AccessToken.token_hash == bindparam("token_hash"),
        AccessToken.expires_at > bindparam("now"),
        AccessToken.revoked.is_(False),
        User.is_active.is_(True),
    )


def holder_params(token: str, now: datetime) -> dict[str, Any]:
    """The parameters of a ``token_holder`` query for ``token`` at ``now``."""
    return {"token_hash": _hash_token(token), "now": now}


# The account and its venue assignments in one query: every authenticated request runs it.
_HOLDER: Final = token_holder(select(User)).options(joinedload(User.assignments))
# The same with the account's row locked until the transaction ends (``authenticate(lock=True)``), its
# columns as they are under the lock.
_HOLDER_LOCKED: Final = _HOLDER.with_for_update(of=User).execution_options(populate_existing=True)
# The accounts whose row the session's transaction holds locked: a second lock of one is not asked for.
_LOCKED: Final = "seoulrun.locked_accounts"


def locked_accounts(session: AsyncSession) -> set[int]:
    """The accounts whose row this session's transaction has locked (``note_locked``)."""
    locked: set[int] = session.info.setdefault(_LOCKED, set())
    return locked


def note_locked(session: AsyncSession, user_id: int) -> None:
    """``user_id``'s row is locked until the transaction ends. Not noted inside a savepoint: its
    rollback would give the lock back while the transaction goes on."""
    if not session.in_nested_transaction():
        locked_accounts(session).add(user_id)


@event.listens_for(Session, "after_transaction_end")
def _forget_locks(session: Session, transaction: SessionTransaction) -> None:
    if transaction.parent is None:  # the transaction itself, not a savepoint in it
        session.info.pop(_LOCKED, None)


def normalize_email(email: str) -> str:
    return email.strip().lower()


def account_read(user: User) -> AccountRead:
    return AccountRead(
        id=user.id,
        email=user.email,
        name=user.name,
        role=user.role,
        birth_year=user.birth_year,
        phone=user.phone,
        venue_ids=sorted(user.venue_ids),
    )


async def venue_team(session: AsyncSession, venue_id: int) -> Sequence[User]:
    """The active staff and managers assigned to a venue, managers first, by name."""
    return (
        await session.scalars(
            select(User)
            .join(VenueAssignment, VenueAssignment.user_id == User.id)
            .where(VenueAssignment.venue_id == venue_id, User.is_active.is_(True))
            .order_by(User.role, User.name)
        )
    ).all()


class AccountService:
    def __init__(self, session: AsyncSession, settings: Settings, venues: VenueDirectory | None = None) -> None:
        self.session = session
        self.settings = settings
        self.venues = venues

    async def _hash(self, password: str) -> str:
        return await passwords.hash_password(
            password, time_cost=self.settings.argon2_time_cost, memory_kib=self.settings.argon2_memory_kib
        )

    def _check_strength(self, password: str, email: str, name: str) -> None:
        if reason := passwords.weakness(password, email=email, name=name):
            raise WeakPassword(
                reason.key, errors=[field_error("password", reason.key, **reason.params)], **reason.params
            )

    async def _email_free(self, email: str) -> None:
        if await self.session.scalar(select(User.id).where(User.email == email)) is not None:
            raise EmailTaken("account.email_taken", email=email)

    async def _insert(self, user: User) -> User:
        # The unique index decides between two registrations racing for one email.
        try:
            async with self.session.begin_nested():
                self.session.add(user)
                await self.session.flush()
        except IntegrityError as exc:
            raise EmailTaken("account.email_taken", email=user.email) from exc
        return user

    async def register(self, data: RegisterRequest, *, now: datetime | None = None) -> User:
        email = normalize_email(data.email)
        year = (now or utcnow()).year
        if data.birth_year > year:
            raise ValidationFailed(
                "account.birth_year_future", errors=[field_error("birth_year", "field.not_in_future")]
            )
        self._check_strength(data.password, email, data.name)
        await self._email_free(email)
        user = User(
            email=email,
            password_hash=await self._hash(data.password),
            name=data.name.strip(),
            birth_year=data.birth_year,
            phone=data.phone,
            role=Role.CITIZEN,
            assignments=[],
        )
        await self._insert(user)
        # The new account is its own actor: nobody was signed in to register it.
        acting.set_actor(user.id, user.role)
        await audit(self.session, "account.registered", "account", user.id, venue_id=None, now=now)
        return user

    async def login(self, email: str, password: str, *, now: datetime | None = None) -> tuple[str, datetime]:
        now = now or utcnow()
        user = await self.session.scalar(select(User).where(User.email == normalize_email(email)))
        kw = {"time_cost": self.settings.argon2_time_cost, "memory_kib": self.settings.argon2_memory_kib}
        if user is None:
            await passwords.dummy_verify(password, **kw)
            raise Unauthenticated("auth.wrong_credentials")
        if not await passwords.verify_password(user.password_hash, password, **kw) or not user.is_active:
            raise Unauthenticated("auth.wrong_credentials")
        return await self.issue_token(user, now=now)

    async def issue_token(self, user: User, *, now: datetime | None = None) -> tuple[str, datetime]:
        now = now or utcnow()
        token = secrets.token_urlsafe(32)
        expires_at = now + timedelta(hours=self.settings.token_ttl_hours)
        self.session.add(AccessToken(token_hash=_hash_token(token), user_id=user.id, expires_at=expires_at))
        await self.session.flush()
        return token, to_kst(expires_at)

    async def authenticate(self, token: str, *, now: datetime | None = None, lock: bool = False) -> User:
        """The active account that holds ``token``. ``lock``: its row locked, in the same statement, until
        the transaction ends (``locked_accounts``), for a request that decides on the account's behalf."""
        now = now or utcnow()
        result = await self.session.execute(_HOLDER_LOCKED if lock else _HOLDER, holder_params(token, now))
        user: User | None = result.unique().scalar_one_or_none()
        if user is None:
            raise Unauthenticated("auth.token_invalid")
        if lock:
            note_locked(self.session, user.id)
        # This request acts as this account: what it changes is audited under its name, whichever way in
        # (the API's bearer token, the web pages' session cookie) authenticated it.
        acting.set_actor(user.id, user.role)
        return user

    async def revoke(self, token: str) -> None:
        await self.session.execute(
            update(AccessToken).where(AccessToken.token_hash == _hash_token(token)).values(revoked=True)
        )

    async def revoke_all(self, user_id: int) -> None:
        await self.session.execute(
            update(AccessToken)
            .where(AccessToken.user_id == user_id, AccessToken.revoked.is_(False))
            .values(revoked=True)
            .execution_options(synchronize_session=False)
        )

    async def purge_expired_tokens(self, *, now: datetime | None = None) -> int:
        result = await self.session.execute(delete(AccessToken).where(AccessToken.expires_at <= (now or utcnow())))
        return int(getattr(result, "rowcount", 0) or 0)

    # --- accounts made by administrators and the CLI ---------------------------------------------

    async def _venue_ids_exist(self, venue_ids: Iterable[int]) -> list[int]:
        wanted = sorted(set(venue_ids))
        if not wanted:
            return []
        if self.venues is None:
            raise RuntimeError("AccountService needs a VenueDirectory to assign venues")
        found = await self.venues.existing(wanted)
        missing = [v for v in wanted if v not in found]
        if missing:
            listed = ", ".join(map(str, missing))
            raise ValidationFailed(
                "account.unknown_venues",
                errors=[field_error("venue_ids", "field.unknown_venues", venues=listed)],
                venues=listed,
            )
        return wanted

    def _check_assignments(self, role: str, venue_ids: list[int]) -> None:
        if venue_ids and role not in VENUE_SCOPED_ROLES:
            raise ValidationFailed(
                "account.venues_only_for_staff", errors=[field_error("venue_ids", "field.only_staff_and_managers")]
            )

    async def create(self, data: AccountCreate) -> User:
        email = normalize_email(data.email)
        self._check_strength(data.password, email, data.name)
        venue_ids = await self._venue_ids_exist(data.venue_ids)
        self._check_assignments(data.role, venue_ids)
        await self._email_free(email)
        user = User(
            email=email,
            password_hash=await self._hash(data.password),
            name=data.name.strip(),
            birth_year=data.birth_year,
            phone=data.phone,
            role=data.role,
            assignments=[VenueAssignment(venue_id=v) for v in venue_ids],
        )
        await self._insert(user)
        await audit(
            self.session,
            "account.created",
            "account",
            user.id,
            venue_id=None,
            details={"role": user.role, "venue_ids": venue_ids},
        )
        return user

    async def get(self, user_id: int) -> User:
        user = await self.session.get(User, user_id)
        if user is None:
            raise NotFound("account.not_found", user_id=user_id)
        return user

    async def update(self, user_id: int, data: AccountUpdate) -> User:
        user = await self.get(user_id)
        role = user.role if data.role is msgspec.UNSET else data.role
        if data.name is not msgspec.UNSET:
            user.name = data.name.strip()
        if data.is_active is not msgspec.UNSET:
            user.is_active = data.is_active
        if data.password is not msgspec.UNSET:
            self._check_strength(data.password, user.email, user.name)
            user.password_hash = await self._hash(data.password)
            # A new password ends every session of the old one: whoever knew it is logged out.
            await self.revoke_all(user.id)
        if data.is_active is False:
            await self.revoke_all(user.id)
        venue_ids = sorted(user.venue_ids) if data.venue_ids is msgspec.UNSET else data.venue_ids
        venue_ids = await self._venue_ids_exist(venue_ids) if role in VENUE_SCOPED_ROLES else []
        self._check_assignments(role, venue_ids)
        changed = sorted(k for k, v in msgspec.structs.asdict(data).items() if v is not msgspec.UNSET)
        details: dict[str, object] = {"fields": changed}
        if role != user.role:
            details["role"] = {"from": user.role, "to": role}
        if sorted(user.venue_ids) != venue_ids:
            details["venue_ids"] = {"from": sorted(user.venue_ids), "to": venue_ids}
        user.role = role
        self._set_assignments(user, venue_ids)
        await self.session.flush()
        await audit(self.session, "account.updated", "account", user.id, venue_id=None, details=details)
        return user

    def _set_assignments(self, user: User, venue_ids: list[int]) -> None:
        keep = [a for a in user.assignments if a.venue_id in venue_ids]
        have = {a.venue_id for a in keep}
        user.assignments = keep + [VenueAssignment(venue_id=v) for v in venue_ids if v not in have]

    async def upsert(
        self, email: str, password: str, role: str, venue_slugs: list[str], name: str | None = None
    ) -> tuple[User, bool]:
        """Create an account, or update the role, password and venues of an existing one (the CLI)."""
        email = normalize_email(email)
        venue_ids: list[int] = []
        if venue_slugs:
            if self.venues is None:
                raise RuntimeError("AccountService needs a VenueDirectory to assign venues")
            found = await self.venues.by_slug(venue_slugs)
            missing = [s for s in venue_slugs if s not in found]
            if missing:
                listed = ", ".join(missing)
                raise ValidationFailed(
                    "account.unknown_venues",
                    errors=[field_error("venue", "field.unknown_venues", venues=listed)],
                    venues=listed,
                )
            venue_ids = sorted(found[s] for s in venue_slugs)
        existing = await self.session.scalar(select(User).where(User.email == email))
        if existing is None:
            data = AccountCreate(email=email, password=password, name=name or email.split("@")[0], role=role)
            data.venue_ids = venue_ids
            return await self.create(data), True
        self._check_strength(password, email, existing.name)
        update_data = AccountUpdate(role=role, password=password, venue_ids=venue_ids, is_active=True)
        if name:
            update_data.name = name
        return await self.update(existing.id, update_data), False

    async def search(self, *, role: str | None, q: str | None, limit: int, offset: int) -> Page[AccountRead]:
        query = select(User)
        if role:
            query = query.where(User.role == role)
        if q:
            like = f"%{q.strip().lower()}%"
            query = query.where(or_(User.email.like(like), func.lower(User.name).like(like)))
        total = await count(self.session, query)
        users = (await self.session.scalars(query.order_by(User.id).limit(limit).offset(offset))).all()
        return Page(items=[account_read(u) for u in users], total=total, limit=limit, offset=offset)
