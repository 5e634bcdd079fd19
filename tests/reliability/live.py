"""Real processes on 127.0.0.1 for the reliability tests: the web app under gunicorn, as the
Procfile runs it, and a throwaway PostgreSQL cluster that a test may restart or crash.

The throwaway cluster lives in a temporary directory on a free port with its socket beside it,
so restarting it never touches the machine's own PostgreSQL, which other people use.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_until(condition, *, timeout: float, what: str, every: float = 0.1) -> None:
    """Poll until `condition()` is true; a bound on the test's time, not a speed assertion."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up after {timeout:.0f} s waiting for {what}")
        time.sleep(every)


def postgres_bin() -> Path | None:
    """The newest PostgreSQL server binaries on this machine (Debian's layout)."""
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"), key=lambda p: int(p.parts[-3]))
    return found[-1].parent if found else None


class ThrowawayPostgres:
    """A PostgreSQL cluster of its own (initdb + pg_ctl), trust auth, gone after the test."""

    def __init__(self) -> None:
        bin_dir = postgres_bin()
        if bin_dir is None:
            pytest.skip("needs PostgreSQL server binaries (/usr/lib/postgresql/*/bin)")
        self.bin = bin_dir
        # initdb refuses to run as root: the cluster then belongs to the postgres account.
        self.as_user: list[str] = []
        if os.geteuid() == 0:
            try:
                pwd.getpwnam("postgres")
            except KeyError:
                pytest.skip("running as root with no postgres account to own a cluster")
            if shutil.which("runuser") is None:
                pytest.skip("running as root without runuser: cannot start a cluster")
            self.as_user = ["runuser", "-u", "postgres", "--"]
        self.dir = Path(tempfile.mkdtemp(prefix="loyalty-pg-"))
        self.data = self.dir / "data"
        self.log = self.dir / "server.log"
        self.port = free_port()
        if self.as_user:
            shutil.chown(self.dir, "postgres", "postgres")
        self._run(
            "initdb",
            "-D",
            str(self.data),
            "-U",
            "postgres",
            "--auth=trust",
            "-E",
            "UTF8",
            "--no-sync",
            "--no-instructions",
        )

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, tool: str, *args: str) -> None:
        done = subprocess.run(
            [*self.as_user, str(self.bin / tool), *args],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            timeout=120,
        )
        if done.returncode != 0:
            log = self.log.read_text()[-2000:] if self.log.exists() else ""
            raise AssertionError(f"{tool} failed: {done.stderr.decode()[-2000:]}\n{log}")

    def _ctl(self, *args: str) -> None:
        options = (
            f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 "
            "-c max_connections=50 -c shared_buffers=32MB"
        )
        self._run(
            "pg_ctl",
            "-D",
            str(self.data),
            "-l",
            str(self.log),
            "-o",
            options,
            "-w",
            "-t",
            "60",
            *args,
        )

    def start(self) -> ThrowawayPostgres:
        self._ctl("start")
        return self

    def restart(self, mode: str) -> None:
        """`fast` rolls back open transactions; `immediate` kills the server (crash recovery)."""
        self._ctl("-m", mode, "restart")

    def stop(self) -> None:
        if (self.data / "postmaster.pid").exists():
            with contextlib.suppress(AssertionError):
                self._ctl("-m", "immediate", "stop")
        shutil.rmtree(self.dir, ignore_errors=True)


class LiveServer:
    """`gunicorn web:create_app()` with the Procfile's config: 2 workers x 4 threads."""

    def __init__(self, database_url: str, logs: Path, **env: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = logs / f"gunicorn-{self.port}.log"
        environment = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": os.environ.get("HOME", "/tmp"),
            "PYTHONUNBUFFERED": "1",
            "DATABASE_URL": database_url,
            "SECRET_KEY": "reliability-test-key",
            "LOG_LEVEL": "WARNING",
            "WEB_CONCURRENCY": "2",
            "WEB_THREADS": "4",
            "API_RATE_LIMIT": "100000 per second",
            "UPLOAD_FOLDER": str(logs / "uploads"),
            "MEMBER_IMPORT_DIR": str(logs / "imports"),
            **env,
        }
        with open(self.log, "ab") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "gunicorn", "--config", "gunicorn.conf.py",
                 "--bind", f"127.0.0.1:{self.port}", "web:create_app()"],
                cwd=ROOT, env=environment, stdout=out, stderr=out,
            )  # fmt: skip
        wait_until(self._answers, timeout=90, what="gunicorn to answer", every=0.3)
        wait_until(lambda: len(self.workers()) == 2, timeout=60, what="both gunicorn workers")

    def _answers(self) -> bool:
        if self.process.poll() is not None:
            raise AssertionError(f"gunicorn exited:\n{self.log.read_text()[-3000:]}")
        try:
            return httpx.get(f"{self.url}/healthz", timeout=5).status_code in (200, 503)
        except httpx.TransportError:
            return False

    def workers(self) -> set[int]:
        """The worker processes' ids: a changed set means gunicorn replaced a worker."""
        children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        return {int(pid) for pid in children.read_text().split()} if children.exists() else set()

    def tail(self) -> str:
        return self.log.read_text()[-4000:] if self.log.exists() else ""

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
