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
    Connector,
    PayloadError,
    PlatformError,
    Secret,
    SignatureError,
    json_object,
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
    ) -> dict[str, Any]:
        """Call the Graph API; the JSON object answered, or PlatformError with Meta's words.

        The token goes in a header, never in a URL that could end up in a log.
        """
        token = self.channel.secrets[self.access_token_secret]
        headers = {"Authorization": f"Bearer {token}"}
        try:
            async with self.http.request(
                method, self.graph_url(path), params=params, json=body, headers=headers
            ) as resp:
                data = await resp.json(content_type=None)
                status = resp.status
        except (*NETWORK_ERRORS, ValueError) as err:
            raise PlatformError(f"{what}: {err}") from err
        if status != 200 or not isinstance(data, dict):
            detail = _graph_error(data)
            raise PlatformError(f"{what}: HTTP {status}{detail}", status=status)
        return data


def _graph_error(data: Any) -> str:
    """Meta's error message from a Graph error body, as ``: message`` (or nothing)."""
    error = data.get("error") if isinstance(data, dict) else None
    message = error.get("message") if isinstance(error, dict) else None
    return f": {str(message)[:300]}" if message else ""
