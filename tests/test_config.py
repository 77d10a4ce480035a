"""Settings are read from the environment and a bad value names its variable."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from chatcrm.config import Settings, SettingsError
from chatcrm.secrets_box import SecretBox, load_secret_box


def test_defaults_are_the_embedded_service_on_8080() -> None:
    s = Settings.from_env({})
    assert s.embedded and s.port == 8080 and s.mongodb_db == "chatcrm"
    assert s.data_dir == Path("var")
    assert s.line_api_base_url == "https://api.line.me"
    assert s.telegram_api_base_url == "https://api.telegram.org"


def test_values_are_read() -> None:
    key = SecretBox.generate_key()
    s = Settings.from_env(
        {
            "MONGODB_URI": "mongodb://db.example:27017",
            "MONGODB_DB": "crm",
            "CHATCRM_SECRET_KEY": key,
            "PORT": "5000",
            "HOST": "0.0.0.0",
            "LINE_API_BASE_URL": "http://127.0.0.1:9000/",
        }
    )
    assert not s.embedded
    assert (s.port, s.host, s.mongodb_db) == (5000, "0.0.0.0", "crm")
    assert s.line_api_base_url == "http://127.0.0.1:9000"


@pytest.mark.parametrize(
    ("env", "variable"),
    [
        ({"PORT": "eighty"}, "PORT"),
        ({"PORT": "70000"}, "PORT"),
        ({"MONGODB_URI": "postgres://x"}, "MONGODB_URI"),
        ({"MONGODB_URI": "mongodb://x"}, "CHATCRM_SECRET_KEY"),
        ({"CHATCRM_SECRET_KEY": "not-a-key"}, "CHATCRM_SECRET_KEY"),
        ({"MONGODB_DB": "a/b"}, "MONGODB_DB"),
        ({"TELEGRAM_API_BASE_URL": "ftp://x"}, "TELEGRAM_API_BASE_URL"),
        ({"GRAPH_API_BASE_URL": "graph"}, "GRAPH_API_BASE_URL"),
        ({"LOG_LEVEL": "LOUD"}, "LOG_LEVEL"),
    ],
)
def test_bad_value_names_the_variable(env: dict[str, str], variable: str) -> None:
    with pytest.raises(SettingsError) as err:
        Settings.from_env(env)
    assert err.value.variable == variable
    assert str(err.value).startswith(variable)


def test_bad_value_stops_startup_with_one_line(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "chatcrm.cli", "serve"],
        env={"PORT": "eighty", "CHATCRM_DATA_DIR": str(tmp_path), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "PORT" in lines[0]


def test_embedded_key_is_generated_once(tmp_path: Path) -> None:
    box = load_secret_box(None, tmp_path)
    token = box.encrypt("s3cret")
    again = load_secret_box(None, tmp_path)
    assert again.decrypt(token) == "s3cret"
    assert (tmp_path / "secret.key").stat().st_mode & 0o077 == 0


def test_smtp_url_and_sender() -> None:
    s = Settings.from_env(
        {
            "SMTP_URL": "smtps://mail%40shop.example:p%2Fss@smtp.example.com",
            "MAIL_FROM": "reports@shop.example",
        }
    )
    assert s.smtp is not None
    assert (s.smtp.host, s.smtp.port, s.smtp.implicit_tls) == ("smtp.example.com", 465, True)
    assert (s.smtp.username, s.smtp.password) == ("mail@shop.example", "p/ss")
    assert "p/ss" not in repr(s)
    plain = Settings.from_env(
        {"SMTP_URL": "smtp://u:p@mx.example:2525", "MAIL_FROM": "a@b.example"}
    )
    assert plain.smtp is not None and plain.smtp.port == 2525 and plain.smtp.require_starttls
    local = Settings.from_env({"SMTP_URL": "smtp://u:p@127.0.0.1:2525", "MAIL_FROM": "a@b.example"})
    assert local.smtp is not None and not local.smtp.require_starttls
    outbox = Settings.from_env({})
    assert outbox.smtp is None and "@" in outbox.mail_from


@pytest.mark.parametrize(
    ("env", "variable"),
    [
        ({"SMTP_URL": "http://mail.example"}, "SMTP_URL"),
        ({"SMTP_URL": "smtp://mail.example:99999", "MAIL_FROM": "a@b.example"}, "SMTP_URL"),
        ({"SMTP_URL": "smtp://mail.example"}, "MAIL_FROM"),
        ({"MAIL_FROM": "not an address"}, "MAIL_FROM"),
        ({"CHATCRM_DELIVERY_LEASE_SECONDS": "0"}, "CHATCRM_DELIVERY_LEASE_SECONDS"),
    ],
)
def test_bad_mail_setting_names_the_variable(env: dict[str, str], variable: str) -> None:
    with pytest.raises(SettingsError) as err:
        Settings.from_env(env)
    assert err.value.variable == variable
