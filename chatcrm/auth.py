"""Dashboard sign-in: argon2id passwords, server-side sessions, attempt limits, one-time links.

No HTTP here: `chatcrm.api.auth` and `chatcrm.http.principal` answer requests with it, the CLI
bootstraps users and prints links with it.
"""

from __future__ import annotations

import asyncio
import math
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from typing import Protocol

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from chatcrm.domain import DomainError, Principal, Shop
from chatcrm.store import Store
from chatcrm.store.users import Session, User, now_ms

SESSION_IDLE = timedelta(days=7)
"""A session ends after this long unused..."""
SESSION_LIFETIME = timedelta(days=30)
"""...and this long after sign-in in any case."""
SESSION_TOUCH = timedelta(minutes=10)
"""How often a used session's idle expiry is pushed back (a write), at most."""
INVITE_TTL = timedelta(days=7)
RESET_TTL = timedelta(hours=24)
ATTEMPT_WINDOW = timedelta(minutes=15)
ACCOUNT_LIMIT = 5
"""Failed sign-ins per e-mail address and window; then the account waits for the next window."""
ADDRESS_LIMIT = 20
"""Failed sign-ins per client address and window, whatever the accounts tried."""
PASSWORD_LENGTH = (10, 256)

_HASHER = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)
"""argon2id with OWASP's recommended parameters (19 MiB, 2 passes, 1 lane): about 50 ms on one
core, little memory per concurrent sign-in; hashes with other parameters still verify, and are
re-hashed at the next sign-in."""


class SignInRefused(Exception):
    """Wrong e-mail or password, or (with `retry_after` seconds) too many failures."""

    def __init__(self, retry_after: int | None = None) -> None:
        super().__init__("too many failed sign-ins" if retry_after else "wrong e-mail or password")
        self.retry_after = retry_after


class LinkSender(Protocol):
    """The mail hook: delivers a sign-in link (`kind` "invite" or "reset") to `to`.

    Nothing implements it yet; a mail transport sets one as `chatcrm.keys.LINK_SENDER` on the
    app, and invitations and "forgot password" start e-mailing their links.
    """

    async def __call__(self, *, to: str, kind: str, url: str, shop: Shop) -> None:
        """Send the link or raise."""


@dataclass(frozen=True)
class SignedIn:
    """A new session: `token` goes into the cookie, and nowhere else."""

    token: str
    session: Session
    user: User


def check_password(value: object) -> str:
    """A new password, or DomainError(field="password") naming the rule it breaks."""
    low, high = PASSWORD_LENGTH
    if not isinstance(value, str) or not low <= len(value) <= high:
        raise DomainError(f"password must be {low}-{high} characters", field="password")
    return value


async def hash_password(password: str) -> str:
    """The argon2id hash of a password (computed off the event loop)."""
    return await asyncio.to_thread(_HASHER.hash, password)


@cache
def _unknown_user_hash() -> str:
    """A hash to verify against when no user matches, so both cases take the same time."""
    return _HASHER.hash(secrets.token_urlsafe(16))


def _verify(password_hash: str, password: str) -> bool:
    try:
        return _HASHER.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


async def start_session(store: Store, user: User) -> SignedIn:
    """Sign `user` in: a new session with its own CSRF token."""
    token = secrets.token_urlsafe(32)
    session = await store.sessions.create(
        user, token, secrets.token_urlsafe(32), idle=SESSION_IDLE, lifetime=SESSION_LIFETIME
    )
    return SignedIn(token, session, user)


async def _limit_reached(store: Store, checks: list[tuple[str, str, int]]) -> int | None:
    """Seconds until the window ends when any (scope, subject, limit) has reached its limit."""
    for scope, subject, limit in checks:
        count, ends = await store.attempts.count(scope, subject, ATTEMPT_WINDOW)
        if count >= limit:
            return max(1, math.ceil((ends - now_ms()) / 1000))
    return None


async def sign_in(store: Store, email: str, password: str, address: str) -> SignedIn:
    """Check an e-mail and password; raise SignInRefused (with `retry_after` when locked).

    Failures count per account and per client address in MongoDB, so every process of the
    service agrees; a locked account is not even checked until its window has passed.
    """
    checks = [("account", email, ACCOUNT_LIMIT), ("address", address, ADDRESS_LIMIT)]
    if (wait := await _limit_reached(store, checks)) is not None:
        raise SignInRefused(wait)
    user = await store.users.by_email(email)
    stored = user.password_hash if user and user.password_hash else _unknown_user_hash()
    if not await asyncio.to_thread(_verify, stored, password) or user is None:
        for scope, subject, _ in checks:
            await store.attempts.add(scope, subject, ATTEMPT_WINDOW)
        raise SignInRefused(await _limit_reached(store, checks))
    await store.attempts.clear("account", email, ATTEMPT_WINDOW)
    if _HASHER.check_needs_rehash(stored):
        await store.users.set_password(user.id, await hash_password(password))
    return await start_session(store, user)


async def session_principal(store: Store, token: str) -> tuple[Principal, Session] | None:
    """The caller a session cookie names, and its session; None when unknown or ended."""
    if not token or len(token) > 100:
        return None
    session = await store.sessions.resolve(token, idle=SESSION_IDLE, touch_after=SESSION_TOUCH)
    if session is None:
        return None
    user = await store.users.get(session.user_id)
    if user is None or user.shop_id != session.shop_id:
        return None
    return Principal(shop_id=user.shop_id, role=user.role, user=user.email), session


async def invite(
    store: Store, shop_id: str, email: str, role: str, by: str
) -> tuple[str, datetime]:
    """A one-time invitation link token for `email` to join the shop as `role`, and its expiry.

    DomainError(code="conflict") when the address already has an account.
    """
    if await store.users.by_email(email) is not None:
        raise DomainError(f"{email} already has an account", field="email", code="conflict")
    if role not in ("owner", "staff"):
        raise DomainError("role must be owner or staff", field="role")
    token = secrets.token_urlsafe(32)
    expires = await store.links.create(
        token, "invite", shop_id, INVITE_TTL, email=email, role=role, by=by
    )
    assert expires is not None
    return token, expires


async def accept_invitation(store: Store, token: str, password: object) -> SignedIn | None:
    """Create the invited user with `password` and sign them in; None for a used or expired
    link."""
    password_hash = await hash_password(check_password(password))
    link = await store.links.use(token, "invite")
    if link is None:
        return None
    user = await store.users.create(link["shop_id"], link["email"], link["role"], password_hash)
    return await start_session(store, user)


async def reset_link(store: Store, user: User) -> tuple[str, datetime]:
    """A one-time link token for `user` to choose a new password, and its expiry."""
    token = secrets.token_urlsafe(32)
    expires = await store.links.create(token, "reset", user.shop_id, RESET_TTL, user_id=user.id)
    assert expires is not None
    return token, expires


async def reset_password(store: Store, token: str, password: object) -> SignedIn | None:
    """Set a new password through a reset link, end the user's other sessions, sign in; None
    for a used or expired link."""
    password_hash = await hash_password(check_password(password))
    link = await store.links.use(token, "reset")
    user = await store.users.get(link["user_id"]) if link else None
    if user is None:
        return None
    await store.users.set_password(user.id, password_hash)
    await store.sessions.end_all(user.shop_id, user.id)
    await store.attempts.clear("account", user.email, ATTEMPT_WINDOW)
    return await start_session(store, user)


async def demo_link(store: Store, user: User) -> str:
    """The demo owner's reusable sign-in token: the same across restarts of the demo.

    Derived from the secret key (`SecretBox.derive`, as the demo's API token is) and stored as
    a digest; it signs in only the demo shop's owner, and a link made otherwise is replaced.
    """
    token = store.box.derive(f"demo-sign-in:{user.shop_id}:{user.id}")
    if await store.links.peek(token, "demo") is None:
        await store.links.remove(user.shop_id, "demo")
        await store.links.create(token, "demo", user.shop_id, None, user_id=user.id)
    return token


async def demo_sign_in(store: Store, token: str, demo_shop_id: str) -> SignedIn | None:
    """Sign in through the demo link; None unless it is the demo shop's current one."""
    if not token or len(token) > 100:
        return None
    link = await store.links.peek(token, "demo")
    if link is None or link["shop_id"] != demo_shop_id:
        return None
    user = await store.users.get(link["user_id"])
    if user is None or user.shop_id != demo_shop_id:
        return None
    return await start_session(store, user)


def link_url(base_url: str, kind: str, token: str) -> str:
    """The dashboard address that opens a link: ``<base>/#invite=<token>``; the token stays in
    the fragment, which browsers never send to a server or in a Referer."""
    return f"{base_url.rstrip('/')}/#{kind}={token}"
