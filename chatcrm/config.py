"""Settings: the only place that reads the process environment."""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from email.utils import formataddr, parseaddr
from pathlib import Path
from urllib.parse import unquote, urlsplit

from chatcrm.secrets_box import SecretBox


class SettingsError(ValueError):
    """A configuration value is missing or malformed; the message names the variable."""

    def __init__(self, variable: str, problem: str) -> None:
        super().__init__(f"{variable}: {problem}")
        self.variable = variable


def _url(env: Mapping[str, str], name: str, default: str) -> str:
    value = env.get(name, "").strip() or default
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise SettingsError(name, f"must be an http(s) URL, got {value!r}")
    return value.rstrip("/")


def _int(env: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(name, f"must be an integer, got {raw!r}") from None
    if not low <= value <= high:
        raise SettingsError(name, f"must be between {low} and {high}, got {value}")
    return value


def _choice(env: Mapping[str, str], name: str, default: str, choices: tuple[str, ...]) -> str:
    value = env.get(name, "").strip() or default
    if value.upper() not in choices:
        raise SettingsError(name, f"must be one of {', '.join(choices)}, got {value!r}")
    return value.upper()


@dataclass(frozen=True)
class SmtpServer:
    """Where report e-mails go: ``SMTP_URL`` taken apart.

    ``smtp://`` speaks STARTTLS when the server offers it, and insists on it when credentials
    are sent to anything but a loopback address; ``smtps://`` is TLS from the first byte.
    """

    host: str
    port: int
    implicit_tls: bool = False
    username: str | None = None
    password: str | None = field(default=None, repr=False)

    @property
    def require_starttls(self) -> bool:
        """Whether a plain connection must upgrade before the password is sent."""
        return not self.implicit_tls and self.username is not None and not _loopback(self.host)


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


SMTP_PORTS = {"smtp": 587, "smtps": 465}
"""Default port of each ``SMTP_URL`` scheme: submission with STARTTLS, or implicit TLS."""


def _smtp(env: Mapping[str, str]) -> SmtpServer | None:
    raw = env.get("SMTP_URL", "").strip()
    if not raw:
        return None
    parts = urlsplit(raw)
    if parts.scheme not in SMTP_PORTS or not parts.hostname:
        raise SettingsError("SMTP_URL", "must look like smtp://user:pass@host:587 or smtps://...")
    try:
        port = parts.port or SMTP_PORTS[parts.scheme]
    except ValueError:
        raise SettingsError("SMTP_URL", "has a bad port") from None
    if parts.path not in ("", "/") or parts.query:
        raise SettingsError("SMTP_URL", "takes no path or query")
    return SmtpServer(
        host=parts.hostname,
        port=port,
        implicit_tls=parts.scheme == "smtps",
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else None,
    )


DEFAULT_MAIL_FROM = "chatcrm <chatcrm@localhost>"


def _mail_from(env: Mapping[str, str], smtp: SmtpServer | None) -> str:
    raw = env.get("MAIL_FROM", "").strip()
    if not raw:
        if smtp is not None:
            raise SettingsError("MAIL_FROM", "is required with SMTP_URL (reports@shop.example)")
        return DEFAULT_MAIL_FROM
    name, address = parseaddr(raw)
    local, _, domain = address.rpartition("@")
    domain_ok = "." in domain or domain == "localhost"
    if not local or not domain_ok or any(c in raw for c in "\r\n"):
        raise SettingsError("MAIL_FROM", f"is not an e-mail address: {raw!r}")
    return formataddr((name, address)) if name else address


@dataclass(frozen=True)
class Settings:
    """Process-wide configuration. Per-shop configuration lives in MongoDB."""

    mongodb_uri: str | None = None
    mongodb_db: str = "chatcrm"
    host: str = "127.0.0.1"
    port: int = 8080
    data_dir: Path = field(default_factory=lambda: Path("var"))
    secret_key: str | None = None
    log_level: str = "INFO"
    public_url: str | None = None
    line_api_base_url: str = "https://api.line.me"
    line_data_api_base_url: str = "https://api-data.line.me"
    telegram_api_base_url: str = "https://api.telegram.org"
    graph_api_base_url: str = "https://graph.facebook.com"
    graph_api_version: str = "v21.0"
    max_body_bytes: int = 1024 * 1024
    profile_max_age_hours: int = 24
    inbox_max_attempts: int = 8
    inbox_workers: int = 2
    inbox_batch_size: int = 50
    channel_cache_seconds: int = 10
    trusted_proxies: int = 0
    """Reverse proxies in front of the service that append to X-Forwarded-For: the client's
    address (sign-in limits) is that many entries from the right; 0 uses the peer address."""
    smtp: SmtpServer | None = None
    """Report e-mails' server; None writes them as .eml files under ``<data dir>/outbox``."""
    mail_from: str = DEFAULT_MAIL_FROM
    delivery_lease_seconds: int = 120
    """How long a report delivery stays claimed by a process that stops renewing it."""
    send_timeout_seconds: float = 10.0
    """How long a reply to a customer waits for the platform before answering 504."""

    @property
    def embedded(self) -> bool:
        """True when no MONGODB_URI is set and chatcrm runs its own nx-27017."""
        return self.mongodb_uri is None

    def with_changes(self, **changes: object) -> Settings:
        """Return a copy with some fields replaced (used by the CLI's options and tests)."""
        return replace(self, **changes)  # type: ignore[arg-type]

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Read and validate every setting; raise SettingsError naming the bad variable."""
        env = os.environ if env is None else env
        uri = env.get("MONGODB_URI", "").strip() or None
        if uri is not None and not uri.startswith(("mongodb://", "mongodb+srv://")):
            raise SettingsError("MONGODB_URI", "must start with mongodb:// or mongodb+srv://")
        db = env.get("MONGODB_DB", "").strip() or "chatcrm"
        if any(c in db for c in '/\\. "$') or len(db) > 60:
            raise SettingsError("MONGODB_DB", f"is not a valid database name: {db!r}")
        secret_key = env.get("CHATCRM_SECRET_KEY", "").strip() or None
        if secret_key is not None:
            try:
                SecretBox.check_key(secret_key)
            except ValueError as err:
                raise SettingsError("CHATCRM_SECRET_KEY", str(err)) from None
        elif uri is not None:
            raise SettingsError(
                "CHATCRM_SECRET_KEY",
                "is required with MONGODB_URI (generate one: chatcrm secret-key)",
            )
        public_url = env.get("CHATCRM_PUBLIC_URL", "").strip() or None
        if public_url is not None:
            public_url = _url(env, "CHATCRM_PUBLIC_URL", public_url)
        smtp = _smtp(env)
        version = env.get("GRAPH_API_VERSION", "").strip() or cls.graph_api_version
        if not (version.startswith("v") and version[1:].replace(".", "").isdigit()):
            raise SettingsError("GRAPH_API_VERSION", f"must look like v21.0, got {version!r}")
        return cls(
            mongodb_uri=uri,
            mongodb_db=db,
            host=env.get("HOST", "").strip() or cls.host,
            port=_int(env, "PORT", cls.port, 0, 65535),
            data_dir=Path(env.get("CHATCRM_DATA_DIR", "").strip() or "var"),
            secret_key=secret_key,
            log_level=_choice(
                env, "LOG_LEVEL", "INFO", ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
            ),
            public_url=public_url,
            line_api_base_url=_url(env, "LINE_API_BASE_URL", cls.line_api_base_url),
            line_data_api_base_url=_url(env, "LINE_DATA_API_BASE_URL", cls.line_data_api_base_url),
            telegram_api_base_url=_url(env, "TELEGRAM_API_BASE_URL", cls.telegram_api_base_url),
            graph_api_base_url=_url(env, "GRAPH_API_BASE_URL", cls.graph_api_base_url),
            graph_api_version=version,
            max_body_bytes=_int(env, "CHATCRM_MAX_BODY_BYTES", cls.max_body_bytes, 1024, 2**26),
            profile_max_age_hours=_int(
                env, "CHATCRM_PROFILE_MAX_AGE_HOURS", cls.profile_max_age_hours, 0, 24 * 365
            ),
            inbox_max_attempts=_int(
                env, "CHATCRM_INBOX_MAX_ATTEMPTS", cls.inbox_max_attempts, 1, 100
            ),
            inbox_workers=_int(env, "CHATCRM_INBOX_WORKERS", cls.inbox_workers, 0, 64),
            inbox_batch_size=_int(env, "CHATCRM_INBOX_BATCH_SIZE", cls.inbox_batch_size, 1, 1000),
            channel_cache_seconds=_int(
                env, "CHATCRM_CHANNEL_CACHE_SECONDS", cls.channel_cache_seconds, 0, 3600
            ),
            trusted_proxies=_int(env, "CHATCRM_TRUSTED_PROXIES", cls.trusted_proxies, 0, 10),
            smtp=smtp,
            mail_from=_mail_from(env, smtp),
            delivery_lease_seconds=_int(
                env, "CHATCRM_DELIVERY_LEASE_SECONDS", cls.delivery_lease_seconds, 1, 3600
            ),
            send_timeout_seconds=_int(
                env, "CHATCRM_SEND_TIMEOUT_SECONDS", int(cls.send_timeout_seconds), 1, 120
            ),
        )


def local_base_url(settings: Settings) -> str:
    """Where the dashboard is reached: CHATCRM_PUBLIC_URL, else this host and port."""
    if settings.public_url:
        return settings.public_url
    host = "127.0.0.1" if settings.host in ("0.0.0.0", "::", "") else settings.host
    return f"http://{host}:{settings.port}"
