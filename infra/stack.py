"""The local stack on embedded defaults: ``uv run python -m infra.stack up|down|status``.

Starts SeaweedFS on 127.0.0.1:8333 with generated credentials and a versioned bucket, and writes
``.stack/s3.env`` (mode 600) so that ``briefs`` finds the archive without further setup. A second ``up`` is
harmless; ``down`` stops every process by its recorded PID.
"""

from __future__ import annotations

import argparse
import os
import secrets
import signal
import sys
import time
from pathlib import Path

from .seaweedfs import SeaweedFS

STACK_DIR = Path(os.environ.get("BRIEFS_STACK_DIR", Path(__file__).resolve().parent.parent / ".stack"))
BUCKET = "insight-briefs"


def _read_env(path: Path) -> dict[str, str]:
    if not path.exists():
        return {}
    pairs = (
        line.split("=", 1)
        for line in path.read_text().splitlines()
        if "=" in line and not line.startswith("#")
    )
    return {k.strip(): v.strip() for k, v in pairs}


def _alive(pid_file: Path) -> int | None:
    try:
        pid = int(pid_file.read_text())
        os.kill(pid, 0)
        return pid
    except (OSError, ValueError):
        return None


def up(stack_dir: Path = STACK_DIR, s3_port: int = 8333) -> dict[str, str]:
    stack_dir.mkdir(parents=True, exist_ok=True)
    env_file = stack_dir / "s3.env"
    known = _read_env(env_file)
    server = SeaweedFS(
        stack_dir / "seaweedfs",
        s3_port=s3_port,
        access_key=known.get("AWS_ACCESS_KEY_ID") or "briefs-" + secrets.token_hex(6),
        secret_key=known.get("AWS_SECRET_ACCESS_KEY") or secrets.token_urlsafe(24),
    )
    if _alive(server.data_dir / "weed.pid"):
        print(f"SeaweedFS already running at {server.endpoint}")
    else:
        server.start()
        print(f"SeaweedFS started at {server.endpoint} (pid {server.process.pid})")
    env = server.env(BUCKET)
    env_file.write_text(
        "# written by `python -m infra.stack up`; read by `briefs` and the DAGs\n"
        + "".join(f"{k}={v}\n" for k, v in env.items())
    )
    env_file.chmod(0o600)
    from pipelines.storage import Bucket, StorageConfig

    Bucket(StorageConfig.from_env(env)).ensure_bucket(versioning=True)
    print(f"bucket s3://{BUCKET} (versioning on); credentials in {env_file}")
    return env


def down(stack_dir: Path = STACK_DIR) -> None:
    for pid_file in sorted(stack_dir.glob("*/*.pid")):
        pid = _alive(pid_file)
        if pid is None:
            continue
        try:
            os.killpg(pid, signal.SIGTERM)
        except ProcessLookupError:
            continue
        for _ in range(50):
            if _alive(pid_file) is None:
                break
            time.sleep(0.2)
        else:
            os.killpg(pid, signal.SIGKILL)
        print(f"stopped {pid_file.stem} (pid {pid})")
        pid_file.unlink(missing_ok=True)


def status(stack_dir: Path = STACK_DIR) -> int:
    running = 0
    for pid_file in sorted(stack_dir.glob("*/*.pid")):
        pid = _alive(pid_file)
        print(f"{pid_file.stem}: {f'running (pid {pid})' if pid else 'stopped'}")
        running += bool(pid)
    return 0 if running else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra.stack", description=__doc__.split("\n")[0])
    parser.add_argument("command", choices=["up", "down", "status"])
    args = parser.parse_args(argv)
    if args.command == "up":
        up()
        return 0
    if args.command == "down":
        down()
        return 0
    return status()


if __name__ == "__main__":
    sys.exit(main())
