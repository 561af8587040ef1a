"""Identity: passwords (argon2id), logins with rotating refresh tokens, API keys, throttling.

Access tokens are short-lived JWTs (crm.auth) naming their login session (`sid`), so
logging out (revoking the session) stops them at the next request. API keys are
`crm_<prefix>_<secret>`: shown once, stored as SHA-256 (high-entropy secrets need no slow
hash), found by prefix. Failed logins are throttled per email and per source address;
no answer says whether an email exists.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from crm.auth import Principal, Role, issue_token
from kernel.errors import Code, DomainError, domain_codes
from kernel.references import get_row
from kernel.validation import Checker
from models import ApiKey, AuthSession, LoginAttempt, User

IdentityErrorCode = domain_codes("IdentityErrorCode", "invalid_credentials", "throttled", "invalid_token", "weak_password",
                                 "role_not_allowed")

ACCESS_TTL = timedelta(minutes=15)
REFRESH_TTL = timedelta(days=30)
THROTTLE_WINDOW = timedelta(minutes=15)
MAX_FAILURES_PER_EMAIL = 5
MAX_FAILURES_PER_SOURCE = 30
PASSWORD_MIN, PASSWORD_MAX = 12, 200
KEY_PREFIX = "crm_"

_hasher = PasswordHasher()
# Verified against when the email is unknown, so both answers take the same time.
_DUMMY_HASH = _hasher.hash("not a password anyone has")
STAFF_ORDER = [Role.SALES, Role.MANAGER, Role.ADMIN]


def _sha256(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def hash_password(password: str) -> str:
    check = Checker()
    if not isinstance(password, str) or not PASSWORD_MIN <= len(password) <= PASSWORD_MAX:
        check.fail("password", f"A password has {PASSWORD_MIN} to {PASSWORD_MAX} characters.", IdentityErrorCode.WEAK_PASSWORD)
    elif password.strip() != password or len(set(password)) < 4:
        check.fail("password", "A password cannot start or end with spaces, and needs some variety.", IdentityErrorCode.WEAK_PASSWORD)
    check.done()
    return _hasher.hash(password)


def password_matches(password_hash: str | None, password: str) -> bool:
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False


async def set_password(session: AsyncSession, user_id: int, password: str) -> User:
    user = await get_row(session, User, user_id, lock=True)
    if user is None:
        raise DomainError.one("id", "No user has this ID.", Code.NOT_FOUND)
    user.password_hash = hash_password(password)
    await session.flush()
    return user


@dataclass(frozen=True)
class Tokens:
    access_token: str
    refresh_token: str
    access_expires_at: datetime
    user: User


def _principal(user: User, session_id: int | None = None, role: str | None = None,
               api_key_id: int | None = None) -> Principal:
    return Principal(subject=user.email, role=Role(role or user.role), account_id=user.partner_account_id,
                     user_id=user.id, session_id=session_id, api_key_id=api_key_id)


def _access_token(secret_key: str, user: User, session_id: int, now: datetime) -> tuple[str, datetime]:
    token = issue_token(secret_key, _principal(user, session_id), ttl_seconds=int(ACCESS_TTL.total_seconds()))
    return token, now + ACCESS_TTL


async def login(session: AsyncSession, *, email: str, password: str, source: str, secret_key: str) -> Tokens:
    """Tokens for a correct email and password. Every attempt is recorded in the caller's
    transaction, which must commit also when this raises (see resolvers)."""
    now = datetime.now(timezone.utc)
    key = (email or "").strip().lower()[:254]
    since = now - THROTTLE_WINDOW
    failures_email = (await session.execute(select(func.count()).select_from(LoginAttempt).where(
        LoginAttempt.email == key, LoginAttempt.at >= since, LoginAttempt.succeeded.is_(False)))).scalar_one()
    failures_source = (await session.execute(select(func.count()).select_from(LoginAttempt).where(
        LoginAttempt.source == source, LoginAttempt.at >= since, LoginAttempt.succeeded.is_(False)))).scalar_one()
    if failures_email >= MAX_FAILURES_PER_EMAIL or failures_source >= MAX_FAILURES_PER_SOURCE:
        raise DomainError.one(None, "Too many failed logins; try again in a few minutes.", IdentityErrorCode.THROTTLED)
    user = (await session.execute(select(User).where(func.lower(User.email) == key))).scalar_one_or_none()
    ok = password_matches(user.password_hash if user else None, password or "") and user is not None and user.active
    session.add(LoginAttempt(email=key, source=source, succeeded=ok))
    await session.flush()
    if not ok:
        raise DomainError.one(None, "The email or password is not right.", IdentityErrorCode.INVALID_CREDENTIALS)
    refresh = secrets.token_urlsafe(32)
    login_session = AuthSession(user_id=user.id, refresh_hash=_sha256(refresh), expires_at=now + REFRESH_TTL)
    session.add(login_session)
    await session.flush()
    access, expires = _access_token(secret_key, user, login_session.id, now)
    return Tokens(access, refresh, expires, user)


async def refresh(session: AsyncSession, *, refresh_token: str, secret_key: str) -> Tokens:
    """New tokens for a valid refresh token, which is then spent (rotation)."""
    now = datetime.now(timezone.utc)
    row = (await session.execute(select(AuthSession).where(
        AuthSession.refresh_hash == _sha256(refresh_token or "")).with_for_update())).scalar_one_or_none()
    if row is None or row.revoked_at is not None or row.expires_at <= now:
        raise DomainError.one("refresh_token", "The refresh token is invalid, spent or expired; log in again.",
                              IdentityErrorCode.INVALID_TOKEN)
    user = await get_row(session, User, row.user_id)
    if not user.active:
        raise DomainError.one("refresh_token", "The user is deactivated.", IdentityErrorCode.INVALID_TOKEN)
    new_refresh = secrets.token_urlsafe(32)
    row.refresh_hash = _sha256(new_refresh)
    row.refreshed_at = now
    await session.flush()
    access, expires = _access_token(secret_key, user, row.id, now)
    return Tokens(access, new_refresh, expires, user)


async def logout(session: AsyncSession, session_id: int | None) -> None:
    if session_id is None:
        raise DomainError.one(None, "This credential is not a login session (an API key or service token).", Code.INVALID)
    row = await get_row(session, AuthSession, session_id, lock=True)
    if row is not None and row.revoked_at is None:
        row.revoked_at = datetime.now(timezone.utc)
        await session.flush()


async def session_is_live(session: AsyncSession, session_id: int) -> bool:
    row = (await session.execute(select(AuthSession.revoked_at, AuthSession.expires_at).where(AuthSession.id == session_id))).first()
    return row is not None and row.revoked_at is None and row.expires_at > datetime.now(timezone.utc)


@dataclass(frozen=True)
class NewApiKey:
    key: str
    row: ApiKey


def _outranks(role: Role, other: Role) -> bool:
    """Whether `role` may do more than `other` (staff roles are ordered; a partner is
    not staff)."""
    if role == other:
        return False
    if role in STAFF_ORDER and other in STAFF_ORDER:
        return STAFF_ORDER.index(role) > STAFF_ORDER.index(other)
    return role in STAFF_ORDER  # staff outranks a partner, a partner no staff role


async def create_api_key(session: AsyncSession, *, user_id: int, name: str, role: Role | None,
                         expires_at: datetime | None, creator_role: Role | None = None) -> NewApiKey:
    """A key acting as the user's role or a lesser staff role, and never above the role
    of the credential creating it (`creator_role`): a sales key of an admin cannot mint
    an admin key."""
    check = Checker()
    name = check.text("name", name, max_len=100, required=True)
    check.aware("expires_at", expires_at)
    if expires_at is not None and expires_at <= datetime.now(timezone.utc):
        check.fail("expires_at", "A key expires in the future.", Code.INVALID)
    check.done()
    user = await get_row(session, User, user_id)
    if user is None or not user.active:
        raise DomainError.one("user_id", "No active user has this ID.", Code.NOT_FOUND)
    own = Role(user.role)
    ceiling = own if creator_role is None or not _outranks(own, creator_role) else creator_role
    wanted = Role(role) if role else ceiling
    allowed = wanted == own or (own in STAFF_ORDER and wanted in STAFF_ORDER
                                and STAFF_ORDER.index(wanted) < STAFF_ORDER.index(own))
    allowed = allowed and not _outranks(wanted, ceiling)
    if not allowed:
        raise DomainError.one("role", f"Keys of a user with role {own.value} act as {own.value} or a lesser staff role, "
                              f"and never above the role of the credential creating them ({ceiling.value} here).",
                              IdentityErrorCode.ROLE_NOT_ALLOWED)
    prefix = secrets.token_hex(6)
    key = f"{KEY_PREFIX}{prefix}_{secrets.token_urlsafe(32)}"
    row = ApiKey(user_id=user.id, name=name, prefix=prefix, key_hash=_sha256(key), role=wanted.value, expires_at=expires_at)
    session.add(row)
    await session.flush()
    return NewApiKey(key, row)


async def revoke_api_key(session: AsyncSession, key_id: int, *, user_id: int | None, any_user: bool) -> ApiKey:
    row = await get_row(session, ApiKey, key_id, lock=True)
    if row is None or (not any_user and row.user_id != user_id):
        raise DomainError.one("id", "No API key has this ID.", Code.NOT_FOUND)
    if row.revoked_at is not None:
        raise DomainError.one("id", "This key is already revoked.", Code.NO_CHANGE)
    row.revoked_at = datetime.now(timezone.utc)
    await session.flush()
    return row


async def api_keys_of(session: AsyncSession, user_id: int | None) -> list[ApiKey]:
    return list((await session.execute(select(ApiKey).where(ApiKey.user_id == user_id).order_by(ApiKey.id.desc()))).scalars())


async def principal_for_api_key(session: AsyncSession, key: str) -> Principal | None:
    """The principal of a valid key; records when it was last used (at most once a minute)."""
    parts = key[len(KEY_PREFIX):].split("_", 1) if key.startswith(KEY_PREFIX) else []
    if len(parts) != 2:
        return None
    row = (await session.execute(select(ApiKey).where(ApiKey.prefix == parts[0]))).scalar_one_or_none()
    now = datetime.now(timezone.utc)
    if row is None or not hmac.compare_digest(row.key_hash, _sha256(key)) or row.revoked_at is not None \
            or (row.expires_at is not None and row.expires_at <= now):
        return None
    user = await get_row(session, User, row.user_id)
    if user is None or not user.active:
        return None
    if row.last_used_at is None or now - row.last_used_at > timedelta(minutes=1):
        row.last_used_at = now
        await session.commit()
    return _principal(user, role=row.role, api_key_id=row.id)
