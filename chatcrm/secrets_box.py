"""Encryption at rest of channel secrets (Fernet, keys from CHATCRM_SECRET_KEY or the data dir)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import os
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

log = logging.getLogger(__name__)

KEY_FILE = "secret.key"


class SecretBox:
    """Encrypts and decrypts short secrets; the first key encrypts, every key decrypts."""

    def __init__(self, keys: str) -> None:
        parts = [k.strip() for k in keys.split(",") if k.strip()]
        self._fernet = MultiFernet([Fernet(k) for k in parts])
        self._primary = parts[0].encode()

    @staticmethod
    def check_key(keys: str) -> None:
        """Raise ValueError unless `keys` are comma-separated Fernet keys."""
        parts = [k.strip() for k in keys.split(",") if k.strip()]
        if not parts:
            raise ValueError("is empty")
        for part in parts:
            try:
                Fernet(part)
            except (ValueError, TypeError):
                raise ValueError(
                    "must be Fernet keys (32 url-safe base64 bytes), comma-separated"
                ) from None

    @staticmethod
    def generate_key() -> str:
        """Return a new random key."""
        return Fernet.generate_key().decode()

    def derive(self, purpose: str) -> str:
        """A secret for `purpose` that stays the same while the encrypting key does.

        HMAC-SHA256 of `purpose` under the first key, URL-safe base64 (256 bits): unguessable
        without the key, and the same in every process and after every restart.
        """
        digest = hmac.new(self._primary, purpose.encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).decode().rstrip("=")

    def encrypt(self, plaintext: str) -> str:
        """Return the token for `plaintext`."""
        return self._fernet.encrypt(plaintext.encode()).decode()

    def decrypt(self, token: str) -> str:
        """Return the plaintext of `token`; raise ValueError when no key opens it."""
        try:
            return self._fernet.decrypt(token.encode()).decode()
        except InvalidToken:
            raise ValueError("stored secret cannot be decrypted with CHATCRM_SECRET_KEY") from None


def load_secret_box(secret_key: str | None, data_dir: Path) -> SecretBox:
    """Use the configured key, or the data dir's key file, creating it on first run."""
    if secret_key:
        return SecretBox(secret_key)
    path = data_dir / KEY_FILE
    if not path.exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another process created it first
            pass
        else:
            with os.fdopen(fd, "w") as fh:
                fh.write(SecretBox.generate_key())
            log.info("generated a secret key in %s", path)
    return SecretBox(path.read_text().strip())
