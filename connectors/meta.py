"""What Meta's platforms share: the app-secret signature, the hub handshake, Graph API calls.

Messenger/Instagram and WhatsApp Cloud API connectors build on `GraphConnector`; the Graph API
has no official Python SDK, so calls go through the app's shared aiohttp session.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from typing import Any

from connectors.base import (
    NETWORK_ERRORS,
    REJECTED,
    UNAVAILABLE,
    WINDOW_CLOSED,
    Connector,
    PayloadError,
    PlatformError,
    Refused,
    Secret,
    SignatureError,
    json_object,
    network_error,
)

APP_SECRET = Secret("app_secret", "Meta app dashboard > App settings > Basic > App secret")
VERIFY_TOKEN = Secret(
    "verify_token", "any text you choose; paste the same into the webhook settings"
)


class GraphConnector(Connector):
    """A Meta channel: ``X-Hub-Signature-256`` over the raw body, GET ``hub.*`` check, Graph."""

    signature = "X-Hub-Signature-256"
    handshake = ("hub.mode", "hub.verify_token", "hub.challenge")
    access_token_secret = "page_access_token"  # noqa: S105 - a name, not a secret
    """The name of the secret that authenticates Graph API calls."""

    def verify_subscription(self, query: Mapping[str, str]) -> str:
        """``hub.challenge`` when ``hub.mode=subscribe`` carries the channel's verify token."""
        expected = self.channel.secrets["verify_token"].encode()
        token = query.get("hub.verify_token", "").encode()
        if query.get("hub.mode") != "subscribe" or not hmac.compare_digest(token, expected):
            raise SignatureError("hub.verify_token does not match")
        return query.get("hub.challenge", "")[:200]

    def signed_body(
        self, body: bytes, headers: Mapping[str, str], objects: tuple[str, ...]
    ) -> tuple[str, list[dict[str, Any]]]:
        """The body's ``object`` and ``entry`` list, once its HMAC-SHA256 matches the app secret.

        PayloadError unless ``object`` is one of `objects` and ``entry`` a list of objects.
        """
        header = headers.get("X-Hub-Signature-256", "")
        secret = self.channel.secrets["app_secret"].encode()
        expected = "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()
        if not header or not hmac.compare_digest(header.encode(), expected.encode()):
            raise SignatureError("missing or wrong X-Hub-Signature-256")
        data = json_object(body)
        entries = data.get("entry")
        obj = data.get("object")
        if obj not in objects or not isinstance(entries, list):
            raise PayloadError(f"expected object {' or '.join(objects)} with an entry list")
        if not all(isinstance(entry, dict) for entry in entries):
            raise PayloadError("entry items must be objects")
        return str(obj), entries

    def graph_url(self, path: str) -> str:
        """The Graph API URL of `path` at the configured base and version."""
        base = self.settings.graph_api_base_url
        return f"{base}/{self.settings.graph_api_version}/{path}"

    async def graph(
        self,
        method: str,
        path: str,
        what: str,
        *,
        params: Mapping[str, str] | None = None,
        body: Mapping[str, Any] | None = None,
        sending: bool = False,
    ) -> dict[str, Any]:
        """Call the Graph API; the JSON object answered, or PlatformError with Meta's words.

        When `sending` a message, the errors in `SEND_REFUSALS` are `Refused`. The token goes
        in a header, never in a URL that could end up in a log.
        """
        token = self.channel.secrets[self.access_token_secret]
        headers = {"Authorization": f"Bearer {token}"}
        status: int | None = None
        try:
            async with self.http.request(
                method, self.graph_url(path), params=params, json=body, headers=headers
            ) as resp:
                status = resp.status
                data = await resp.json(content_type=None)
        except NETWORK_ERRORS as err:
            raise network_error(what, err) from err
        except ValueError as err:
            raise PlatformError(f"{what}: HTTP {status}: {err}", status=status) from err
        if status != 200 or not isinstance(data, dict):
            raise _graph_error(what, resp.status, data, sending)
        return data


SEND_REFUSALS: dict[tuple[int, int | None], str] = {
    (10, 2018278): WINDOW_CLOSED,  # Messenger: sent outside of the 24-hour window
    (131047, None): WINDOW_CLOSED,  # WhatsApp: re-engagement message (over 24 hours)
    (551, None): UNAVAILABLE,  # Messenger: this person isn't available right now
    (100, 2018001): UNAVAILABLE,  # Messenger: no matching user found
    (131026, None): UNAVAILABLE,  # WhatsApp: message undeliverable
    (100, None): REJECTED,  # invalid parameter: the message itself
}
"""Graph errors (``code``, ``error_subcode``; None: any) that refuse a message, by reason."""


def _graph_error(what: str, status: int, data: Any, sending: bool) -> PlatformError:
    """The `PlatformError` of a Graph error answer, with Meta's message and codes."""
    error = data.get("error") if isinstance(data, dict) else None
    error = error if isinstance(error, dict) else {}
    message = error.get("message")
    said = f": {str(message)[:300]}" if message else ""
    code, subcode = error.get("code"), error.get("error_subcode")
    reason = None
    if sending and isinstance(code, int):
        subcode = subcode if isinstance(subcode, int) else None
        reason = SEND_REFUSALS.get((code, subcode), SEND_REFUSALS.get((code, None)))
    if reason is not None:
        return Refused(f"{what}: HTTP {status}{said}", reason=reason, status=status)
    return PlatformError(f"{what}: HTTP {status}{said}", status=status)
