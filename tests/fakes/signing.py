"""Webhook signing helpers (the platforms' real algorithms) and fixture loading for tests."""

from __future__ import annotations

import base64
import hashlib
import hmac
from pathlib import Path

__all__ = ["FIXTURES_DIR", "fixture_names", "line_signature", "load_fixture", "meta_signature"]

FIXTURES_DIR = Path(__file__).resolve().parent.parent / "fixtures"


def _key(secret: str | bytes) -> bytes:
    return secret.encode("utf-8") if isinstance(secret, str) else secret


def line_signature(secret: str | bytes, body: bytes) -> str:
    """Return the ``X-Line-Signature`` value: base64(HMAC-SHA256(channel secret, raw body))."""
    digest = hmac.new(_key(secret), body, hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def meta_signature(app_secret: str | bytes, body: bytes) -> str:
    """Return the ``X-Hub-Signature-256`` value: ``"sha256=" + hex HMAC-SHA256(app secret)``."""
    return "sha256=" + hmac.new(_key(app_secret), body, hashlib.sha256).hexdigest()


def load_fixture(platform: str, name: str) -> bytes:
    """Return the raw bytes of ``tests/fixtures/<platform>/<name>[.json]`` (sign these bytes)."""
    filename = name if name.endswith(".json") else f"{name}.json"
    path = FIXTURES_DIR / platform / filename
    if not path.is_file():
        raise FileNotFoundError(f"no fixture {platform}/{filename} in {FIXTURES_DIR}")
    return path.read_bytes()


def fixture_names(platform: str) -> list[str]:
    """Return the fixture names (without ``.json``) available for ``platform``, sorted."""
    return sorted(p.stem for p in (FIXTURES_DIR / platform).glob("*.json"))
