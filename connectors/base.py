"""The connector contract: a platform's SDK on one side, chatcrm's domain events on the other."""

from __future__ import annotations

import hashlib
import json
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, ClassVar

import aiohttp

from chatcrm.config import Settings
from chatcrm.domain import Channel
from chatcrm.store.base import Doc
from chatcrm.store.inbox import RawEvent

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
    """A platform API call failed; `status` is its HTTP status when there was one."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Profile:
    """What a platform tells about a user."""

    name: str | None
    picture_url: str | None = None


@dataclass(frozen=True)
class ChatMessage:
    """An incoming message; media is described by `meta`, never downloaded."""

    platform_message_id: str
    type: str
    text: str | None
    meta: dict[str, Any] = field(default_factory=dict)


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


def clip(value: Any, limit: int = MAX_NAME_CHARS) -> str | None:
    """`value` as a string of at most `limit` characters, None when empty or missing."""
    if value is None:
        return None
    text = str(value).strip()
    return text[:limit] or None


def from_millis(value: Any, default: datetime) -> datetime:
    """A UTC datetime from epoch milliseconds (LINE, Meta), or `default` when unusable."""
    if isinstance(value, int | float) and not isinstance(value, bool) and value > 0:
        return datetime.fromtimestamp(int(value) / 1000, UTC)
    return default


def digest(data: Any) -> str:
    """A stable key for an event that has no id of its own."""
    canonical = json.dumps(data, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return "sha256:" + hashlib.sha256(canonical.encode()).hexdigest()


def json_object(body: bytes) -> dict[str, Any]:
    """The body as a JSON object; PayloadError otherwise."""
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise PayloadError("the body is not valid JSON") from None
    if not isinstance(data, dict):
        raise PayloadError("the body must be a JSON object")
    return data


class Connector(ABC):
    """One connected channel's platform client: verify and split requests, parse, profile, send.

    Built by `connectors.ConnectorPool`, one per channel for the application's lifetime; SDK
    clients are created on first use and closed by `close`.
    """

    platform: ClassVar[str]

    def __init__(self, channel: Channel, settings: Settings, http: aiohttp.ClientSession) -> None:
        self.channel = channel
        self.settings = settings
        self.http = http

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
    async def send_text(self, customer: Doc, text: str) -> str:
        """Send a text message to a customer of this channel; return the platform message id."""

    async def close(self) -> None:  # noqa: B027 - a connector without SDK clients has none
        """Close the SDK clients this connector opened."""
