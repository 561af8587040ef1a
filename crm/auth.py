"""Who is calling: principals and the signed access tokens that carry them.

Tokens are JWTs signed with HS256 and the server's secret key (CRM_SECRET_KEY), holding
the subject, role, partner account and expiry. Issue [4/6] adds users, login, refresh,
revocation and API keys on top of this; the principal a request carries stays the same.
"""

from __future__ import annotations

import enum
import time
from collections import OrderedDict
from dataclasses import dataclass

import jwt

ALGORITHM = "HS256"
ISSUER = "partner-crm"


class Role(enum.StrEnum):
    ADMIN = "admin"
    MANAGER = "manager"
    SALES = "sales"
    PARTNER = "partner"


@dataclass(frozen=True)
class Principal:
    subject: str
    role: Role
    # The partner customer a partner principal acts for; None for staff.
    account_id: int | None = None
    # The app_user row behind the principal, recorded as actor of what it changes; None
    # for principals that are not a user (a machine token, the CLI).
    user_id: int | None = None
    # The login session an access token belongs to (revocable); None for API keys and
    # service tokens issued with the secret key (`crm token`).
    session_id: int | None = None
    # The API key the request was made with; None for tokens.
    api_key_id: int | None = None


class InvalidToken(Exception):
    """The token is malformed, forged or expired. The reason is for logs, not clients."""


def issue_token(secret_key: str, principal: Principal, *, ttl_seconds: int = 3600) -> str:
    now = int(time.time())
    claims = {
        "iss": ISSUER,
        "sub": principal.subject,
        "role": principal.role.value,
        "iat": now,
        "exp": now + ttl_seconds,
    }
    if principal.account_id is not None:
        claims["acc"] = principal.account_id
    if principal.user_id is not None:
        claims["uid"] = principal.user_id
    if principal.session_id is not None:
        claims["sid"] = principal.session_id
    return jwt.encode(claims, secret_key, algorithm=ALGORITHM)


# Tokens already verified, until they expire: checking the signature and claims costs
# ~0.13 ms, a few percent of a cached read (issue [6/6]). Only the expiry can change
# a token's verdict; revoked logins are checked on every request by session id.
VERIFIED_TOKENS = 4096
_verified: OrderedDict[tuple[str, str], tuple[Principal, float]] = OrderedDict()


def read_token(secret_key: str, token: str) -> Principal:
    key = (secret_key, token)
    known = _verified.get(key)
    if known is not None and time.time() < known[1]:
        return known[0]
    principal, expires = _verify(secret_key, token)
    _verified[key] = (principal, expires)
    if len(_verified) > VERIFIED_TOKENS:
        _verified.popitem(last=False)
    return principal


def _verify(secret_key: str, token: str) -> tuple[Principal, float]:
    try:
        claims = jwt.decode(
            token,
            secret_key,
            algorithms=[ALGORITHM],
            issuer=ISSUER,
            options={"require": ["exp", "iat", "sub", "iss"]},
        )
        account, user, session = claims.get("acc"), claims.get("uid"), claims.get("sid")
        for name, value in (("acc", account), ("uid", user), ("sid", session)):
            if value is not None and type(value) is not int:
                raise InvalidToken(f"{name} claim is not an integer")
        principal = Principal(subject=str(claims["sub"]), role=Role(claims["role"]), account_id=account, user_id=user,
                              session_id=session)
        return principal, float(claims["exp"])
    except (jwt.PyJWTError, KeyError, ValueError) as error:
        raise InvalidToken(str(error)) from None
