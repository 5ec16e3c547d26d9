"""pywb, in its own environment (this directory is a uv project: ``pywb==2.10.0`` and its lock), run on 127.0.0.1.

pywb pins an old redis, pyopenssl and gevent that must not enter the project's environment, so it runs as a
subprocess through ``uv run --project infra/replay --locked``. CI syncs it first (``uv sync --locked --project
infra/replay``); elsewhere uv syncs it on first use. ``pipelines.replay`` finds and packages the captures.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import signal
import subprocess
import time
import urllib.request
from pathlib import Path

PROJECT = Path(__file__).resolve().parent
SYNC_HINT = f"uv sync --locked --project {PROJECT}"
_LOOPBACK = {"0100007F", "00000000000000000000000001000000"}  # 127.0.0.1 and ::1 as /proc/net/tcp* spell them


class PywbError(OSError):
    """pywb is missing, or its process did not do what it was asked; the message says what to run. An OSError,
    like any failed program: callers (and `briefs`) treat it as one."""


def _pywb(*args: str) -> list[str]:
    uv = shutil.which("uv")
    if uv is None:
        raise PywbError(f"`uv` is not on PATH: pywb runs in its own environment ({SYNC_HINT})")
    return [uv, "run", "--quiet", "--project", str(PROJECT), "--locked", "--no-dev", *args]


def _pywb_env() -> dict[str, str]:
    """Never the main environment: uv would sync pywb into whatever these name."""
    return {k: v for k, v in os.environ.items() if k not in {"UV_PROJECT_ENVIRONMENT", "VIRTUAL_ENV"}}


def add_collection(root: Path, name: str, wacz: Path) -> None:
    """pywb's collection for the capture's run under `root` (``wb-manager init`` + ``add --unpack-wacz``), made
    again when its WACZ changed."""
    (root / "config.yaml").write_text("framed_replay: false\n")  # the replay URL answers with the page itself
    folder = root / "collections" / name
    marker = folder / "wacz.sha256"
    with wacz.open("rb") as handle:
        digest = hashlib.file_digest(handle, "sha256").hexdigest()
    if marker.exists() and marker.read_text() == digest:
        return
    shutil.rmtree(folder, ignore_errors=True)
    for args in (
        ("init", name),
        ("add", "--unpack-wacz", name, str(wacz)),
    ):
        done = subprocess.run(
            _pywb("wb-manager", *args), cwd=root, env=_pywb_env(), capture_output=True, text=True
        )
        if done.returncode != 0:
            raise PywbError(
                f"wb-manager {args[0]} failed: {done.stderr.strip()[-400:]} (is pywb set up? {SYNC_HINT})"
            )
    marker.write_text(digest)


class ReplayServer:
    """pywb's ``wayback`` over `root`, on 127.0.0.1:`port` only; a context manager that stops it (and its group)."""

    def __init__(self, root: Path, port: int):
        self.root, self.port = root, port
        self.process: subprocess.Popen | None = None

    def start(self, deadline_s: float = 90) -> ReplayServer:
        if self._answers():
            raise PywbError(f"127.0.0.1:{self.port} is already in use: choose another --port")
        command = _pywb(
            "wayback", "--bind", "127.0.0.1", "--port", str(self.port), "--directory", str(self.root)
        )
        self.log = (self.root / "wayback.log").open("wb")
        self.process = subprocess.Popen(
            command,
            cwd=self.root,
            env=_pywb_env(),
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            self._wait_until_up(time.monotonic() + deadline_s)
        except BaseException:  # Ctrl-C while waiting too: __exit__ never runs for a failed __enter__
            self.stop()
            raise
        return self

    def _wait_until_up(self, until: float) -> None:
        while not self._answers():
            if self.process.poll() is not None or time.monotonic() > until:
                tail = (self.root / "wayback.log").read_text(errors="replace")[-600:]
                raise PywbError(f"pywb did not start on 127.0.0.1:{self.port}: {tail.strip()} ({SYNC_HINT})")
            time.sleep(0.2)
        strays = _listeners(self.port) - _LOOPBACK
        if strays:
            raise PywbError(
                f"pywb also listened beyond 127.0.0.1 ({sorted(strays)}, /proc hex form): stopped"
            )

    def _answers(self) -> bool:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/", timeout=2):
                return True
        except OSError:
            return False

    def stop(self) -> None:
        """SIGTERM to the process group this server started (uv and wayback), then SIGKILL if it lingers."""
        if self.process is not None and self.process.poll() is None:
            for sig, wait in ((signal.SIGTERM, 10), (signal.SIGKILL, 10)):
                try:
                    os.killpg(self.process.pid, sig)
                    self.process.wait(wait)
                    break
                except subprocess.TimeoutExpired:
                    continue
                except ProcessLookupError:
                    break
        if getattr(self, "log", None):
            self.log.close()

    def __enter__(self) -> ReplayServer:
        return self.start() if self.process is None else self

    def __exit__(self, *exc) -> None:
        self.stop()


def _listeners(port: int) -> set[str]:
    """Addresses (hex, as /proc shows them) listening on `port`; Linux only, elsewhere ``--bind`` is trusted."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError):
            for row in Path(table).read_text().split("\n")[1:]:
                fields = row.split()
                if len(fields) > 3 and fields[3] == "0A" and int(fields[1].split(":")[1], 16) == port:
                    found.add(fields[1].split(":")[0])
    return found
