"""The embedded default: nx-27017 as a child that never outlives the service."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pymongo import MongoClient

from chatcrm.embedded import EmbeddedMongo
from tests.fakes.signing import line_signature, load_fixture

pytestmark = pytest.mark.slow  # real service and CLI processes, each starting nx-27017

CLI = [sys.executable, "-m", "chatcrm.cli"]
LINE_SECRET = "0123456789abcdef0123456789abcdef"
Service = tuple[subprocess.Popen[bytes], int, Path]


def _env(data_dir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("MONGODB_URI", "CHATCRM_SECRET_KEY")}
    env.update({"CHATCRM_DATA_DIR": str(data_dir), **extra})
    return env


def nx_pids(data_dir: Path) -> list[int]:
    """Live nx-27017 processes serving `data_dir`."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmd = (entry / "cmdline").read_bytes()
            state = (entry / "stat").read_text().split()[2]
        except OSError:
            continue
        if b"nx_27017" in cmd and str(data_dir.resolve()).encode() in cmd and state != "Z":
            pids.append(int(entry.name))
    return pids


def _wait_gone(data_dir: Path, timeout: float = 15) -> bool:
    deadline = time.monotonic() + timeout
    while nx_pids(data_dir):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


def run_cli(
    data_dir: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run the chatcrm command on the embedded default (or on what `env` names)."""
    return subprocess.run(
        [*CLI, *args],
        env=_env(data_dir, **(env or {})),
        capture_output=True,
        text=True,
        timeout=120,
    )


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_listening(port: int, proc: subprocess.Popen[bytes], timeout: float = 30) -> None:
    """Return once something accepts connections on `port`; fail if `proc` exits first."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            assert proc.poll() is None, "the server exited"
            assert time.monotonic() < deadline, f"nothing listens on {port}"
            time.sleep(0.05)


def start_service(data_dir: Path, port: int | None = None, **env: str) -> Service:
    """Start `chatcrm serve` on the embedded default and wait until /healthz answers 200."""
    port = port or _free_port()
    proc = subprocess.Popen(
        [*CLI, "serve", "--port", str(port)],
        env=_env(data_dir, **env),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as r:  # noqa: S310
                health = json.loads(r.read())
                assert (health["status"], health["database"]) == ("ok", "embedded")
                return proc, port, data_dir
        except OSError:
            if time.monotonic() > deadline or proc.poll() is not None:
                proc.kill()
                raise
            time.sleep(0.2)


def call(
    port: int,
    path: str,
    token: str | None = None,
    body: Any = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, bytes]:
    """A request to the service (a POST with a body: JSON, or raw bytes): status and body."""
    data = body if body is None or isinstance(body, bytes) else json.dumps(body).encode()
    request = urllib.request.Request(  # noqa: S310 - a local test server
        f"http://127.0.0.1:{port}{path}",
        data=data,
        headers={
            "Content-Type": "application/json",
            **({"Authorization": f"Bearer {token}"} if token else {}),
            **(headers or {}),
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as resp:  # noqa: S310
            return int(resp.status), resp.read()
    except urllib.error.HTTPError as err:
        return err.code, err.read()


@pytest.fixture
def service(tmp_path: Path) -> Iterator[Service]:
    """`chatcrm serve` on the embedded default, as a real process."""
    proc, port, data_dir = start_service(tmp_path)
    yield proc, port, data_dir
    if proc.poll() is None:
        proc.kill()
        proc.wait()


def test_sigterm_stops_service_and_server(service: Service) -> None:
    proc, _, data_dir = service
    assert len(nx_pids(data_dir)) == 1
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=30) == 0
    assert _wait_gone(data_dir, timeout=5)
    assert not (data_dir / "nx-27017.json").exists()


def test_killed_service_leaves_no_server(service: Service) -> None:
    proc, _, data_dir = service
    proc.kill()
    proc.wait()
    assert _wait_gone(data_dir), "nx-27017 outlived a crashed service"


def test_cli_beside_running_service_shares_its_server(service: Service) -> None:
    _, _, data_dir = service
    before = nx_pids(data_dir)
    result = run_cli(data_dir, "shop", "create", "ร้านข้างๆ", "--json")
    assert result.returncode == 0, result.stderr
    assert nx_pids(data_dir) == before
    listed = run_cli(data_dir, "shop", "list", "--json")
    assert "ร้านข้างๆ" in listed.stdout


def test_data_survives_restart(tmp_path: Path) -> None:
    created = run_cli(tmp_path, "shop", "create", "ร้านถาวร", "--json")
    assert created.returncode == 0, created.stderr
    shop_id = json.loads(created.stdout)["shop_id"]
    assert not nx_pids(tmp_path)
    listed = run_cli(tmp_path, "shop", "list", "--json")
    assert shop_id in listed.stdout and "ร้านถาวร" in listed.stdout
    assert not nx_pids(tmp_path)


def test_stale_server_is_replaced_not_duplicated(tmp_path: Path) -> None:
    db_dir = (tmp_path / "db").resolve()
    db_dir.mkdir(parents=True)
    port = _free_port()
    stale = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from nx_27017.nx_27017 import main; main()",
            "--data-dir",
            str(db_dir),
            "--port",
            str(port),
            "--log-file",
            str(tmp_path / "stale.log"),
            "--pid-file",
            str(tmp_path / "stale.pid"),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait_listening(port, stale)
        dead_owner = subprocess.Popen([sys.executable, "-c", "pass"])
        dead_owner.wait()
        (tmp_path / "nx-27017.json").write_text(
            json.dumps({"pid": stale.pid, "port": port, "owner": dead_owner.pid})
        )
        result = run_cli(tmp_path, "shop", "list", "--json")
        assert result.returncode == 0, result.stderr
        assert "stale" in result.stderr
        assert stale.wait(timeout=10) is not None
        assert _wait_gone(tmp_path)
    finally:
        if stale.poll() is None:
            stale.kill()


def test_stopping_after_exports_leaves_no_traceback_in_the_database_log(tmp_path: Path) -> None:
    demo = run_cli(tmp_path, "demo", "--customers", "30", "--json")
    assert demo.returncode == 0, demo.stderr
    token = json.loads(demo.stdout)["token"]
    export = ["export", "--shop", "shop_demo", "--format", "csv", "-q", "-o"]
    exported = run_cli(tmp_path, *export, str(tmp_path / "customers.csv"))
    assert exported.returncode == 0, exported.stderr
    proc, port, _ = start_service(tmp_path)
    try:
        status, body = call(port, "/api/v1/exports", token, {"mode": "all", "format": "xlsx"})
        assert status == 200 and body.startswith(b"PK")
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0
    log = (tmp_path / "nx-27017.log").read_text()
    assert "Traceback" not in log and "ERROR" not in log
    assert log.count("Listening on") == 3  # the demo, the export and the service: once each


def test_stop_waits_for_clients_to_leave(tmp_path: Path) -> None:
    server = EmbeddedMongo(tmp_path)
    client: MongoClient[dict[str, Any]] = MongoClient(server.start())
    client.admin.command("ping")  # connected: the server has a task per connection
    leaving = threading.Timer(0.5, client.close)
    leaving.start()
    started = time.monotonic()
    server.stop()
    stopped_in = time.monotonic() - started
    leaving.join()
    log = (tmp_path / "nx-27017.log").read_text()
    assert "Listening on" in log and "Traceback" not in log
    assert 0.4 < stopped_in < 5  # it waited for the client, not for its 5 s limit


def _wait_ok(port: int, path: str, token: str | None = None, timeout: float = 30) -> float:
    """Seconds until `path` answers 200 (503 while the database is down)."""
    started = time.monotonic()
    while (status := call(port, path, token)[0]) != 200:
        assert status == 503 and time.monotonic() - started < timeout, status
        time.sleep(0.1)
    return time.monotonic() - started


def _line_webhook(port: int, channel: dict[str, Any], fixture: str) -> int:
    body = load_fixture("line", fixture)
    signature = {"X-Line-Signature": line_signature(LINE_SECRET, body)}
    return call(port, channel["webhook_path"], body=body, headers=signature)[0]


def test_killed_database_is_restarted_on_the_same_data(tmp_path: Path) -> None:
    offline = {"CHATCRM_INBOX_WORKERS": "0", "LINE_API_BASE_URL": "http://127.0.0.1:9"}
    proc, port, _ = start_service(tmp_path, **offline)
    try:
        shop = json.loads(run_cli(tmp_path, "shop", "create", "ร้านทนทาน", "--json").stdout)
        line = ["--platform", "line", "--channel-secret", LINE_SECRET, "--access-token", "t"]
        added = run_cli(tmp_path, "channel", "add", "--shop", shop["shop_id"], *line, "--json")
        channel = json.loads(added.stdout)
        assert _line_webhook(port, channel, "text_user") == 200
        [killed] = nx_pids(tmp_path)
        os.kill(killed, signal.SIGKILL)
        assert _wait_ok(port, "/api/v1/shop", shop["token"]) < 20  # 503 meanwhile, no restart
        assert _line_webhook(port, channel, "follow") == 200
        status, body = call(port, "/api/v1/shop", shop["token"])
        assert status == 200 and "ร้านทนทาน" in body.decode()  # the same data
        [restarted] = nx_pids(tmp_path)
        state = json.loads((tmp_path / "nx-27017.json").read_text())
        assert restarted != killed and state == {
            "pid": restarted,
            "port": state["port"],
            "owner": proc.pid,
        }
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0
    assert _wait_gone(tmp_path)


def test_services_sharing_the_database_do_not_fight_over_restarting_it(tmp_path: Path) -> None:
    first, first_port, _ = start_service(tmp_path)
    second, second_port, _ = start_service(tmp_path)  # uses the first one's server
    try:
        [killed] = nx_pids(tmp_path)
        os.kill(killed, signal.SIGKILL)
        _wait_ok(first_port, "/healthz")
        _wait_ok(second_port, "/healthz")
        for _ in range(20):  # the owner restarted it; the other never starts a second one
            [restarted] = nx_pids(tmp_path)
            time.sleep(0.1)
        state = json.loads((tmp_path / "nx-27017.json").read_text())
        assert state["pid"] == restarted != killed and state["owner"] == first.pid
        first.send_signal(signal.SIGTERM)  # the owner leaves and stops it: the other takes over
        assert first.wait(timeout=60) == 0
        _wait_ok(second_port, "/healthz")
        [taken_over] = nx_pids(tmp_path)
        state = json.loads((tmp_path / "nx-27017.json").read_text())
        assert state["pid"] == taken_over and state["owner"] == second.pid
    finally:
        for proc in (first, second):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                proc.wait(timeout=60)
    assert _wait_gone(tmp_path)
