"""The embedded default database: an nx-27017 child process on 127.0.0.1 owned by this process."""

from __future__ import annotations

import asyncio
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
from collections.abc import Iterator
from pathlib import Path

log = logging.getLogger(__name__)

STATE_FILE = "nx-27017.json"
LOCK_FILE = "nx-27017.lock"
LOG_FILE = "nx-27017.log"
_PR_SET_PDEATHSIG = 1


class EmbeddedError(RuntimeError):
    """The embedded nx-27017 server could not be started."""


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _bindable(port: int) -> bool:
    """True when a server could listen on 127.0.0.1:`port` now (as nx-27017 binds it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


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
        with self._locked(wait=True):
            port = self._claim()
            if port is not None:
                deadline = time.monotonic() + self.startup_timeout
                while not self._ready(port, deadline):
                    time.sleep(0.05)
        return self.uri

    def orphaned(self) -> bool:
        """True when the data dir's server is gone and it falls to this process to start it.

        That is when this process owned it, or its owner is gone too. While another live
        process owns the state, that process restarts its server: two never race.
        """
        if self.process is not None and self.process.poll() is not None:
            log.warning(
                "embedded nx-27017 (pid %s) exited with status %s",
                self.process.pid,
                self.process.returncode,
            )
            self.process = None
        state = self._read_state()
        if state is None or not _alive(state["owner"]):
            return True
        return state["owner"] == os.getpid() and not _alive(state["pid"])

    async def restart(self) -> None:
        """Start the server again on the same port and data, unless another process is at it.

        The port stays, so every client's URI stays valid and the driver reconnects by itself.
        Call it from the thread that called `start` (the child's death signal is tied to it).
        """
        with self._locked(wait=False) as locked:
            if not locked:
                return  # another process is starting it now
            port = self._claim()
            if port is not None:
                deadline = time.monotonic() + self.startup_timeout
                while not self._ready(port, deadline):  # noqa: ASYNC110 - another process
                    await asyncio.sleep(0.05)

    @contextlib.contextmanager
    def _locked(self, wait: bool) -> Iterator[bool]:
        """Hold the data dir's lock (yield True), or yield False when busy and not `wait`."""
        with open(self.data_dir / LOCK_FILE, "w") as lock:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX if wait else fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                yield False
                return
            yield True

    def _claim(self) -> int | None:
        """Under the lock: use the running server (None), or launch one and return its port."""
        state = self._read_state()
        if state and _alive(state["pid"]) and _is_nx(state["pid"]):
            if _alive(state["owner"]) and _answers(state["port"]):
                self._use(state)
                return None
            log.warning("stopping a stale embedded nx-27017 (pid %s)", state["pid"])
            _stop_pid(state["pid"])
        port = self._port_for(state)
        self._launch(port)
        return port

    def _use(self, state: dict[str, int]) -> None:
        """Use the server another process runs (and owns) for the data dir."""
        if self.port is not None and self.port != state["port"]:
            log.error(
                "the embedded nx-27017 now listens on port %s, not %s: restart chatcrm",
                state["port"],
                self.port,
            )
        self.process = None
        self.port = state["port"]
        log.info(
            "using the embedded nx-27017 already running on port %s (pid %s)",
            self.port,
            state["pid"],
        )

    def _port_for(self, state: dict[str, int] | None) -> int:
        """The fixed port, else the port clients know (ours, the state's) if free, else any."""
        if self.fixed_port:
            return self.fixed_port
        for port in (self.port, state["port"] if state else None):
            if port and _bindable(port):
                return port
        return _free_port()

    def _read_state(self) -> dict[str, int] | None:
        try:
            data = json.loads((self.data_dir / STATE_FILE).read_text())
            return {"pid": int(data["pid"]), "port": int(data["port"]), "owner": int(data["owner"])}
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def _launch(self, port: int) -> None:
        """Start nx-27017 on `port` (no wait); its output is appended to nx-27017.log."""
        pid_file = self.data_dir / "nx-27017.pid"
        pid_file.unlink(missing_ok=True)  # a dead server's: nx-27017 refuses a live-looking one
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
            "--log-file",  # its log goes to stderr too, which is redirected to the log file
            os.devnull,
            "--pid-file",
            str(pid_file),
        ]
        with open(self.data_dir / LOG_FILE, "ab") as out:
            self.process = subprocess.Popen(  # noqa: S603 - fixed argv, no shell
                cmd,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                preexec_fn=_die_with_parent,  # noqa: PLW1509 - needed for PR_SET_PDEATHSIG
                close_fds=True,
            )

    def _ready(self, port: int, deadline: float) -> bool:
        """One look at a launched server: True (and recorded) once it answers, False not yet.

        EmbeddedError when it exited or `deadline` passed.
        """
        assert self.process is not None
        if _answers(port, timeout=0.2):
            self.port = port
            state = {"pid": self.process.pid, "port": port, "owner": os.getpid()}
            (self.data_dir / STATE_FILE).write_text(json.dumps(state))
            log.info(
                "started embedded nx-27017 on 127.0.0.1:%s (pid %s), data in %s",
                port,
                self.process.pid,
                self.db_dir,
            )
            return True
        if self.process.poll() is not None:
            tail = (self.data_dir / LOG_FILE).read_text(errors="replace")[-800:]
            self.process = None
            raise EmbeddedError(f"nx-27017 exited during start-up:\n{tail}")
        if time.monotonic() > deadline:
            self.stop(linger=0)
            raise EmbeddedError(f"nx-27017 did not answer within {self.startup_timeout}s")
        return False

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


async def supervise(server: EmbeddedMongo, interval: float = 1.0) -> None:
    """Restart the data dir's server whenever it dies, on the same port and data, until cancelled.

    Every `interval` seconds: a server this process owns that exited is started again; one
    whose owner is gone is taken over. Runs on the thread that called `server.start()`.
    """
    while True:
        await asyncio.sleep(interval)
        if not server.orphaned():
            continue
        try:
            await server.restart()
        except (EmbeddedError, OSError) as err:
            log.error("could not restart the embedded nx-27017 (trying again): %s", err)
