"""The chatcrm command: shops, tokens and channels, human and --json output."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from chatcrm.cli import build_parser, main
from chatcrm.secrets_box import SecretBox
from tests.test_embedded import CLI, run_cli

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


def _leaves(parser: argparse.ArgumentParser, words: tuple[str, ...] = ()) -> Iterator[list[str]]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _leaves(sub, (*words, name))
            return
    argv = list(words)
    for action in parser._actions:
        value = str(action.choices[0]) if action.choices else "x"  # type: ignore[index]
        if not action.option_strings:
            argv.append(value)
        elif action.required:
            argv += [action.option_strings[0], value]
    yield argv


def leaf_commands() -> list[list[str]]:
    """Every leaf command of the grammar, with its required arguments filled in."""
    return list(_leaves(build_parser()))


def test_every_command_accepts_json(capsys: pytest.CaptureFixture[str]) -> None:
    commands = leaf_commands()
    assert ["secret-key"] in commands and len(commands) >= 12
    for argv in commands:
        try:
            args = build_parser().parse_args([*argv, "--json"])
        except SystemExit:
            pytest.fail(f"chatcrm {' '.join(argv)} refuses --json: {capsys.readouterr().err}")
        assert args.json is True
    assert main(["secret-key", "--json"]) == 0
    SecretBox.check_key(json.loads(capsys.readouterr().out)["secret_key"])
    assert main(["secret-key"]) == 0  # plain, for CHATCRM_SECRET_KEY="$(chatcrm secret-key)"
    SecretBox.check_key(capsys.readouterr().out.strip())


def test_unreachable_mongodb_uri_stops_every_command_with_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("CHATCRM_SECRET_KEY", raising=False)
    monkeypatch.setenv("CHATCRM_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("MONGODB_URI", "mongodb://127.0.0.1:1")
    assert main(["secret-key"]) == 0  # the key such a set-up lacks: no configuration needed
    monkeypatch.setenv("CHATCRM_SECRET_KEY", capsys.readouterr().out.strip())
    expected = "chatcrm: MONGODB_URI: mongodb://127.0.0.1:1 does not answer within 3 s: "
    for argv in leaf_commands():  # in this process, one after the other: 3 s each
        if argv == ["secret-key"]:
            continue
        started = time.monotonic()
        assert main(argv) == 1, argv
        err = capsys.readouterr().err
        assert err.startswith(expected) and err.count("\n") == 1, (argv, err)
        assert time.monotonic() - started < 15, argv
    env = {**os.environ}  # and as a real process, as an operator sees it
    shop_list = subprocess.run([*CLI, "shop", "list"], env=env, capture_output=True, text=True)
    assert shop_list.returncode == 1 and shop_list.stdout == ""
    assert shop_list.stderr.startswith(expected) and shop_list.stderr.count("\n") == 1
