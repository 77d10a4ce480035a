"""`chatcrm schedule list|add|send|deliveries` on the test database, human and --json output."""

from __future__ import annotations

import email
import json
from email.policy import default
from pathlib import Path
from typing import Any

import pytest

from chatcrm.cli import main
from chatcrm.config import Settings
from chatcrm.store import Store
from tests.conftest import SECRET_KEY, ShopFixture


@pytest.fixture
def cli(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Any:
    """Run ``chatcrm ...`` in this process on the test's database; (exit code, out, err)."""
    assert settings.mongodb_uri is not None
    monkeypatch.setenv("MONGODB_URI", settings.mongodb_uri)
    monkeypatch.setenv("MONGODB_DB", settings.mongodb_db)
    monkeypatch.setenv("CHATCRM_SECRET_KEY", SECRET_KEY)
    monkeypatch.setenv("CHATCRM_DATA_DIR", str(settings.data_dir))
    monkeypatch.delenv("SMTP_URL", raising=False)

    def run(*argv: str) -> tuple[int, str, str]:
        code = main(list(argv))
        out, err = capsys.readouterr()
        return code, out, err

    return run


def test_schedule_commands(cli: Any, settings: Settings, store: Store, shop: ShopFixture) -> None:
    code, out, err = cli(
        "schedule", "add", "--shop", shop.id, "--name", "ยอดขายรายวัน", "--every", "day",
        "--at", "07:30", "--to", "owner@shop.example,Owner@shop.example", "--to",
        "acc@shop.example", "--format", "csv", "--period", "all", "--json",
    )  # fmt: skip
    assert code == 0, err
    added = json.loads(out)
    assert added["recipients"] == "owner@shop.example,acc@shop.example"
    assert added["cadence"] == "day 07:30 Asia/Bangkok" and added["enabled"] is True
    code, out, err = cli("schedule", "list", "--shop", shop.id)
    assert code == 0 and f"id={added['id']}" in out and "name=ยอดขายรายวัน" in out

    code, out, err = cli("schedule", "send", "--shop", shop.id, added["id"], "--json")
    assert code == 0, err
    sent = json.loads(out)
    assert sent["state"] == "sent" and sent["kind"] == "test" and sent["rows"] == 0
    (path,) = (Path(settings.data_dir) / "outbox").glob("*.eml")
    message = email.message_from_bytes(path.read_bytes(), policy=default)
    assert "ยอดขายรายวัน" in message["Subject"]

    code, out, err = cli("schedule", "deliveries", "--shop", shop.id, added["id"])
    assert code == 0 and "state=sent" in out and "kind=test" in out

    code, out, err = cli(
        "schedule", "add", "--shop", shop.id, "--name", "x", "--every", "week", "--at", "08:00",
        "--to", "a@shop.example",
    )  # fmt: skip
    assert code == 2 and "cadence.weekday" in err
    code, out, err = cli("schedule", "send", "--shop", shop.id, "sch_nope")
    assert code == 2 and "no report schedule sch_nope" in err
