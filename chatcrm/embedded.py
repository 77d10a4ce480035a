"""The embedded default database: an nx-27017 child process on 127.0.0.1 owned by this process."""

from __future__ import annotations

import contextlib
import ctypes
import fcntl
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

log = logging.getLogger(__name__)

STATE_FILE = "nx-27017.json"
LOCK_FILE = "nx-27017.lock"
_PR_SET_PDEATHSIG = 1


class EmbeddedError(RuntimeError):
    """The embedded nx-27017 server could not be started."""


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _answers(port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout):
            return True
    except OSError:
        return False


def _alive(pid: int) -> bool:
    """True for a running process (a zombie waiting to be reaped counts as gone)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[-1].split()[0] != "Z"


def _is_nx(pid: int) -> bool:
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
    return b"nx_27017" in cmdline


def _die_with_parent() -> None:  # pragma: no cover - runs in the child before exec
    """Ask Linux to SIGTERM the child when the process that started it dies (even by SIGKILL)."""
    os.setsid()  # Ctrl-C in the terminal reaches chatcrm only; chatcrm stops the server in order
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def _open_connections(port: int) -> int:
    """Client connections the server on 127.0.0.1:`port` has not closed yet (Linux; else 0).

    Its end of each is ESTABLISHED, or CLOSE_WAIT once the client has closed its end.
    """
    try:
        rows = Path("/proc/net/tcp").read_text().splitlines()[1:]
    except OSError:
        return 0
    local = f"0100007F:{port:04X}"
    return sum(1 for row in rows if row.split()[1] == local and row.split()[3] in ("01", "08"))


def _stop_pid(pid: int, timeout: float = 10.0) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and _alive(pid):
        time.sleep(0.05)
    if _alive(pid):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


class EmbeddedMongo:
    """Start (or find) nx-27017 serving `data_dir`, and stop it when done if this process owns it.

    One server serves a data directory. A second chatcrm process on the same directory (a CLI
    command while the service runs) uses the running server instead of starting another; a
    server left behind by a process that died is stopped and replaced.
    """

    def __init__(
        self, data_dir: Path, startup_timeout: float = 30.0, port: int | None = None
    ) -> None:
        self.data_dir = data_dir.resolve()
        self.fixed_port = port  # None: a free port
        self.db_dir = self.data_dir / "db"
        self.startup_timeout = startup_timeout
        self.port: int | None = None
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def uri(self) -> str:
        """The connection string of the running server."""
        if self.port is None:
            raise EmbeddedError("embedded server is not started")
        return f"mongodb://127.0.0.1:{self.port}/?directConnection=true"

    def start(self) -> str:
        """Make sure a server for the data dir runs and answers; return its URI.

        Must be called from the main thread: the child's death signal is tied to the thread
        that started it.
        """
        self.db_dir.mkdir(parents=True, exist_ok=True)
        with open(self.data_dir / LOCK_FILE, "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            state = self._read_state()
            if state and _alive(state["pid"]) and _is_nx(state["pid"]):
                if _alive(state.get("owner", -1)) and _answers(state["port"]):
                    self.port = state["port"]
                    log.info(
                        "using the embedded nx-27017 already running on port %s (pid %s)",
                        self.port,
                        state["pid"],
                    )
                    return self.uri
                log.warning("stopping a stale embedded nx-27017 (pid %s)", state["pid"])
                _stop_pid(state["pid"])
            self._spawn()
            return self.uri

    def _read_state(self) -> dict[str, int] | None:
        try:
            data = json.loads((self.data_dir / STATE_FILE).read_text())
            return {"pid": int(data["pid"]), "port": int(data["port"]), "owner": int(data["owner"])}
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def _spawn(self) -> None:
        port = self.fixed_port or _free_port()
        log_path = self.data_dir / "nx-27017.log"
        cmd = [
            sys.executable,
            "-c",
            "from nx_27017.nx_27017 import main; main()",
            "--data-dir",
            str(self.db_dir),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--log-file",  # its log goes to stderr too, which is redirected to `log_path`
            os.devnull,
            "--pid-file",
            str(self.data_dir / "nx-27017.pid"),
        ]
        with open(log_path, "ab") as out:
            self.process = subprocess.Popen(  # noqa: S603 - fixed argv, no shell
                cmd,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                preexec_fn=_die_with_parent,  # noqa: PLW1509 - needed for PR_SET_PDEATHSIG
                close_fds=True,
            )
        deadline = time.monotonic() + self.startup_timeout
        while not _answers(port, timeout=0.2):
            if self.process.poll() is not None:
                tail = log_path.read_text(errors="replace")[-800:]
                self.process = None
                raise EmbeddedError(f"nx-27017 exited during start-up:\n{tail}")
            if time.monotonic() > deadline:
                self.stop()
                raise EmbeddedError(f"nx-27017 did not answer within {self.startup_timeout}s")
            time.sleep(0.05)
        self.port = port
        state = {"pid": self.process.pid, "port": port, "owner": os.getpid()}
        (self.data_dir / STATE_FILE).write_text(json.dumps(state))
        log.info(
            "started embedded nx-27017 on 127.0.0.1:%s (pid %s), data in %s",
            port,
            self.process.pid,
            self.db_dir,
        )

    def stop(self, linger: float = 5.0) -> None:
        """Stop the server if this process started it; otherwise leave it to its owner.

        Waits up to `linger` seconds for the server to close its client connections first:
        nx-27017 logs a traceback for every connection still open when it gets SIGTERM.
        """
        if self.process is None:
            return
        pid = self.process.pid
        deadline = time.monotonic() + linger
        while self.port and _open_connections(self.port) and time.monotonic() < deadline:
            time.sleep(0.05)
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            log.warning("nx-27017 (pid %s) did not stop on SIGTERM; killing it", pid)
            self.process.kill()
            self.process.wait(timeout=5)
        self.process = None
        with contextlib.suppress(OSError):
            state = self._read_state()
            if state and state["pid"] == pid:
                (self.data_dir / STATE_FILE).unlink()
        log.info("stopped embedded nx-27017 (pid %s)", pid)
