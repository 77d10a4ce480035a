"""The connector contract: a platform's SDK on one side, chatcrm's domain events on the other.

A platform is one unit: its module declares a `Connector` subclass carrying everything about
the platform (name, labels, secrets and their validation, request verification, the
subscription handshake, event parsing, profiles, sending) and is listed once in
`connectors.registry`. Connectors depend on domain types only: never on the store or on HTTP
responses (the webhook route decides statuses).
"""

from __future__ import annotations

import hashlib
import json
import re
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar

import aiohttp

from chatcrm.config import Settings
from chatcrm.domain import Channel, DomainError, RawEvent

MAX_TEXT_CHARS = 5000
"""Longest message text stored (longer text is cut)."""
MAX_NAME_CHARS = 200
"""Longest display name or other short label stored."""


NETWORK_ERRORS = (aiohttp.ClientError, OSError, TimeoutError)
"""Errors of reaching a platform at all, wrapped into PlatformError by the connectors."""


class ConnectorError(Exception):
    """Base of every error a connector raises."""


class SignatureError(ConnectorError):
    """The request does not carry a valid signature or secret for the channel."""


class PayloadError(ConnectorError):
    """The request or stored event is not what the platform sends."""


class PlatformError(ConnectorError):
    """A platform API call failed; `status` is its HTTP status when there was one (None: the
    platform was not reached or did not answer)."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class PlatformTimeout(PlatformError):
    """The platform did not answer in time: what was sent may or may not have arrived."""


WINDOW_CLOSED = "window_closed"
"""`Refused.reason`: the platform lets a business write only within a time after the
customer's last message (Messenger's 24 hours, WhatsApp's customer service window)."""
BLOCKED = "blocked"
"""`Refused.reason`: the customer blocked the shop's account (Telegram)."""
UNAVAILABLE = "unavailable"
"""`Refused.reason`: the platform knows no reachable user by that id (deleted, never started
the chat, not on the platform)."""
REJECTED = "rejected"
"""`Refused.reason`: the platform refused the message itself (its text or form)."""


class Refused(PlatformError):
    """The platform answered that it will not deliver this message: `reason` is one of
    `WINDOW_CLOSED`, `BLOCKED`, `UNAVAILABLE`, `REJECTED`; the message carries the
    platform's own words."""

    def __init__(self, message: str, *, reason: str, status: int | None = None) -> None:
        super().__init__(message, status=status)
        self.reason = reason


def network_error(what: str, err: BaseException) -> PlatformError:
    """The `PlatformError` of a call that got no answer: `PlatformTimeout` for a timeout."""
    if isinstance(err, TimeoutError):
        return PlatformTimeout(f"{what}: no answer in time")
    return PlatformError(f"{what}: {str(err) or type(err).__name__}")


@dataclass(frozen=True)
class Secret:
    """A secret a channel of the platform needs: its name, where to find it, its shape."""

    name: str
    help: str
    pattern: str | None = None
    """A full-match regular expression the value must fit, when the platform restricts it."""
    problem: str = ""
    """What to tell the seller when the value does not fit `pattern`."""
    max_chars: int = 1024
    example: str | None = None
    """A value of the right shape, where `pattern` restricts it (for descriptions and tests)."""

    def check(self, value: str | None, platform: str) -> str:
        """The value stripped, or DomainError naming the secret."""
        clean = (value or "").strip()
        if not clean:
            raise DomainError(f"{self.name} is required for a {platform} channel", self.name)
        if len(clean) > self.max_chars:
            raise DomainError(f"{self.name} is too long", field=self.name)
        if self.pattern is not None and not re.fullmatch(self.pattern, clean):
            raise DomainError(f"{self.name} must be {self.problem}", field=self.name)
        return clean


Labels = Mapping[str, str]
"""A label by locale: ``{"en": ..., "th": ...}``."""


@dataclass(frozen=True)
class Profile:
    """What a platform tells about a user.

    `name` and `picture_url` replace what the customer had; `username` and `phone` (as the
    platform writes it) are kept only when the platform gives them.
    """

    name: str | None
    picture_url: str | None = None
    username: str | None = None
    phone: str | None = None


EDIT = "edit"
"""`ChatMessage.change` of an edit: `text` replaces the text of the message with that id."""
UNSEND = "unsend"
"""`ChatMessage.change` of a withdrawal: its sender took the message with that id back."""


@dataclass(frozen=True)
class ChatMessage:
    """A message of a conversation; media is described by `meta`, never downloaded."""

    platform_message_id: str
    type: str
    text: str | None
    meta: dict[str, Any] = field(default_factory=dict)
    direction: str = "in"
    """``in`` from the customer, ``out`` the shop's own (a reply echoed by the platform)."""
    change: str | None = None
    """None for a new message; `EDIT` or `UNSEND` for a change of the message with this id."""
    sent_at: datetime | None = None
    """For a change: when the message itself was sent, where the platform tells (Telegram)."""


@dataclass(frozen=True)
class ChatEvent:
    """A normalized event about one platform user (the speaking user in groups)."""

    user_id: str
    customer_channel: str
    at: datetime
    status: str | None = None
    message: ChatMessage | None = None
    conversation_type: str = "user"
    conversation_id: str | None = None
    profile: Profile | None = None
    former_user_ids: tuple[str, ...] = ()
    """Other ids the platform knew this user by (an older kind of id, the id before a change):
    a customer known by one of them is the same customer, now known by `user_id`."""
    sequence: int | None = None
    """Where the platform numbers its events (Telegram ``update_id``, Meta ``num_edit``): the
    event's number, which orders events of the same `at`; otherwise the order of delivery."""


@dataclass(frozen=True)
class ChatText:
    """A text a user wrote to the shop in a one-to-one chat, with what answering it needs.

    What `Connector.command_text` finds in a raw event for the bot's command lane. `recipient`
    is what the connector's `send_text` takes to reach the user (``platform_user_id`` and
    whatever else the platform needs).
    """

    user_id: str
    customer_channel: str
    text: str
    at: datetime | None = None
    reply_token: str | None = None
    """LINE's reply token: usable once, shortly after the event."""
    name: str | None = None
    """The user's display name when the event carries it."""
    recipient: Mapping[str, Any] = field(default_factory=dict)

    @property
    def identity(self) -> tuple[str, str]:
        """(customer channel, platform user id), as a customer is identified."""
        return (self.customer_channel, self.user_id)


def clip(value: Any, limit: int = MAX_NAME_CHARS) -> str | None:
    """`value` as a string of at most `limit` characters, None when empty or missing."""
    if value is None:
        return None
    text = str(value).strip()
    return text[:limit] or None


def from_millis(value: Any, default: datetime) -> datetime:
    """A UTC datetime from epoch milliseconds (LINE, Meta), or `default` when unusable."""
    if isinstance(value, int | float) and not isinstance(value, bool) and value > 0:
        try:
            return datetime.fromtimestamp(int(value) / 1000, UTC)
        except (OverflowError, ValueError, OSError):
            return default
    return default


SECONDS_BELOW = 100_000_000_000
"""Epoch values below this are seconds (up to the year 5138), above it milliseconds (from
1973): `from_epoch` tells them apart by size."""


def from_epoch(value: Any, default: datetime) -> datetime:
    """A UTC datetime from epoch seconds or milliseconds, a number or a string of digits.

    Meta writes milliseconds in live deliveries and a string of seconds in its documented
    examples and test notifications; `default` when the value is unusable.
    """
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 16:
        value = int(value)
    if isinstance(value, int | float) and not isinstance(value, bool) and 0 < value < 1e16:
        return from_millis(value * 1000 if value < SECONDS_BELOW else value, default)
    return default


def digest(data: Any) -> str:
    """A stable key for an event that has no id of its own (lone surrogates included)."""
    canonical = json.dumps(data, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return "sha256:" + hashlib.sha256(canonical.encode("utf-8", "surrogatepass")).hexdigest()


def json_object(body: bytes) -> dict[str, Any]:
    """The body as a JSON object; PayloadError otherwise (too deeply nested included)."""
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise PayloadError("the body is not valid JSON") from None
    except RecursionError:
        raise PayloadError("the body's JSON is nested too deeply") from None
    if not isinstance(data, dict):
        raise PayloadError("the body must be a JSON object")
    return data


class Connector(ABC):
    """One connected channel's platform client: verify and split requests, parse, profile, send.

    The class attributes describe the platform (the registry, the channel API, the CLI, the
    export labels and the OpenAPI document read them); an instance serves one channel. Built
    by `connectors.pool.ConnectorPool`, one per channel for the application's lifetime; SDK
    clients are created on first use and closed by `close`.
    """

    platform: ClassVar[str]
    """The platform's name in URLs, the API and the database (``Channel.platform``)."""
    labels: ClassVar[Labels]
    """The platform's name as sellers read it, by locale."""
    customer_channels: ClassVar[Mapping[str, Labels]]
    """The ``channel`` values its customers get, with labels (Messenger: also Instagram)."""
    secrets: ClassVar[tuple[Secret, ...]]
    """What a channel of the platform needs, all required."""
    signature: ClassVar[str]
    """How the platform authenticates its webhook requests (for the API description)."""
    handshake: ClassVar[tuple[str, ...]] = ()
    """Query parameters of the GET with which the platform checks the webhook URL (none: no
    check); `verify_subscription` answers it."""
    registers_webhook: ClassVar[bool] = False
    """True when chatcrm can set the webhook URL through the platform's API."""
    max_text_chars: ClassVar[int] = 2000
    """Longest text message the platform takes, counted in UTF-16 code units (the strictest
    way platforms count: an emoji outside the BMP is two)."""
    texts_per_send: ClassVar[int] = 1
    """Text messages one `reply` call may carry (LINE: 5 per reply or push)."""
    sends_documents: ClassVar[bool] = False
    """True when `send_document` can deliver a file into the chat (Telegram)."""
    renames_users: ClassVar[bool] = False
    """True when the platform may change the id it gives a user (its events then name the
    former ids, `ChatEvent.former_user_ids`): only such a platform's events can arrive late
    under an id a customer had before, so only they are looked up among former ids."""

    def __init__(self, channel: Channel, settings: Settings, http: aiohttp.ClientSession) -> None:
        self.channel = channel
        self.settings = settings
        self.http = http

    @classmethod
    def validate_secrets(cls, secrets: Mapping[str, str | None]) -> dict[str, str]:
        """The platform's secrets, each present and well-formed, or DomainError naming one."""
        return {
            secret.name: secret.check(secrets.get(secret.name), cls.platform)
            for secret in cls.secrets
        }

    def verify_subscription(self, query: Mapping[str, str]) -> str:
        """Answer the platform's webhook URL check: the text to return; SignatureError if wrong.

        Only platforms with `handshake` have one.
        """
        raise SignatureError(f"{self.platform} has no subscription check")

    async def register_webhook(self, url: str) -> None:
        """Point the platform at `url` (only platforms with `registers_webhook`)."""
        raise PlatformError(f"{self.platform} webhooks are set in the platform's console")

    @abstractmethod
    def verify_request(self, body: bytes, headers: Mapping[str, str]) -> list[RawEvent]:
        """Check the request's signature, then split the body into raw events with their keys.

        Raises SignatureError (nothing may be stored) or PayloadError. No network I/O.
        """

    @abstractmethod
    def parse(self, raw: dict[str, Any], received_at: datetime) -> list[ChatEvent]:
        """Turn one stored raw event into domain events (none for events chatcrm ignores)."""

    @abstractmethod
    async def fetch_profile(self, event: ChatEvent) -> Profile:
        """The user's profile from the platform's API; PlatformError when it fails."""

    @abstractmethod
    async def send_text(self, customer: Mapping[str, Any], text: str) -> str:
        """Send a text message to a customer of this channel; return the platform message id."""

    def command_text(self, raw: Mapping[str, Any]) -> ChatText | None:
        """The text of a one-to-one text message in a stored raw event, else None. No I/O.

        Cheap enough for the webhook route, which hands command-shaped texts to the bot's
        command lane. Events that must not be answered (LINE standby mode, group chats,
        the page's own echoes) give None.
        """
        return None

    async def reply(self, to: ChatText, texts: Sequence[str]) -> None:
        """Answer the user who wrote `to` with up to `texts_per_send` texts, in order.

        Each text fits `max_text_chars`. PlatformError when the platform refuses or cannot
        be reached. The default sends each text with `send_text`.
        """
        for text in texts:
            await self.send_text(to.recipient or {"platform_user_id": to.user_id}, text)

    async def send_document(self, to: ChatText, path: Path, filename: str, caption: str) -> None:
        """Send the file at `path` into the chat of `to` (only platforms with `sends_documents`)."""
        raise PlatformError(f"{self.platform} chats do not take documents from chatcrm")

    async def close(self) -> None:  # noqa: B027 - a connector without SDK clients has none
        """Close the SDK clients this connector opened."""
