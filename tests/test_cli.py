"""The chatcrm command: shops, tokens and channels, human and --json output."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.test_embedded import run_cli

pytestmark = pytest.mark.slow  # each command is a process starting nx-27017


def test_shop_token_and_channels(tmp_path: Path) -> None:
    shop = json.loads(run_cli(tmp_path, "shop", "create", "ร้านแม่มณี", "--json").stdout)
    assert shop["token"].startswith("ccrm_") and shop["timezone"] == "Asia/Bangkok"
    sid = shop["shop_id"]
    line = run_cli(
        tmp_path,
        "channel",
        "add",
        "--shop",
        sid,
        "--platform",
        "line",
        "--channel-secret",
        "cs-123",
        "--access-token",
        "at-456",
        "--json",
    )
    assert line.returncode == 0, line.stderr
    info = json.loads(line.stdout)
    assert info["webhook_path"] == f"/webhooks/line/{info['channel_id']}"
    tg = run_cli(
        tmp_path,
        "channel",
        "add",
        "--shop",
        sid,
        "--platform",
        "telegram",
        "--bot-token",
        "123:abc",
        "--secret-token",
        "s3cret_tok",
    )
    assert tg.returncode == 0 and "webhook_path: /webhooks/telegram/" in tg.stdout
    listed = run_cli(tmp_path, "channel", "list", "--shop", sid, "--json")
    channels = json.loads(listed.stdout)["channels"]
    assert {c["platform"] for c in channels} == {"line", "telegram"}
    assert "cs-123" not in listed.stdout + listed.stderr + line.stderr
    staff = json.loads(
        run_cli(tmp_path, "token", "create", "--shop", sid, "--role", "staff", "--json").stdout
    )
    assert staff["role"] == "staff" and staff["token"] != shop["token"]


def test_cli_errors_are_clear(tmp_path: Path) -> None:
    missing = run_cli(
        tmp_path,
        "channel",
        "add",
        "--shop",
        "shop_nope",
        "--platform",
        "line",
        "--channel-secret",
        "x",
        "--access-token",
        "y",
    )
    assert missing.returncode == 2 and "no shop with id shop_nope" in missing.stderr
    shop = json.loads(run_cli(tmp_path, "shop", "create", "x", "--json").stdout)
    bad = run_cli(
        tmp_path,
        "channel",
        "add",
        "--shop",
        shop["shop_id"],
        "--platform",
        "messenger",
        "--app-secret",
        "a",
        "--verify-token",
        "v",
    )
    assert bad.returncode == 2 and "page_access_token is required" in bad.stderr
    tz = run_cli(tmp_path, "shop", "create", "y", "--timezone", "Mars/Base")
    assert tz.returncode == 2 and "time zone" in tz.stderr
