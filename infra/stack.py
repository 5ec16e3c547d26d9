"""The local stack on embedded defaults: ``uv run python -m infra.stack up [--offline] | down | status``.

- SeaweedFS on 127.0.0.1:8333 with generated credentials and a versioned bucket; ``.stack/s3.env`` (mode 600)
  lets ``briefs`` find the archive without further setup.
- Airflow (api-server on 127.0.0.1:8080, scheduler, dag-processor) with both DAGs unpaused, so the archive runs
  nightly, unattended. The admin password is generated and printed on the first ``up``.
- ``--offline``: the site simulator on 127.0.0.1:8765 (clock at the current hour, news every day) stands in for
  insightcrime.org, for machines without internet.

A second ``up`` is harmless; ``down`` stops every process by its recorded PID, children included.
"""

from __future__ import annotations

import argparse
import os
import secrets
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from pipelines.settings import profile_from_env, read_env_file

from . import airflow_stack
from .seaweedfs import SeaweedFS

STACK_DIR = Path(os.environ.get("BRIEFS_STACK_DIR", Path(__file__).resolve().parent.parent / ".stack"))
BUCKET = "insight-briefs"


def _alive(pid_file: Path) -> int | None:
    try:
        pid = int(pid_file.read_text())
        os.kill(pid, 0)
        return pid
    except (OSError, ValueError):
        return None


def _port(name: str, default: int) -> int:
    return int(os.environ.get(f"BRIEFS_{name}_PORT", default))


def up(stack_dir: Path = STACK_DIR, offline: bool = False, with_airflow: bool = True) -> dict[str, str]:
    stack_dir.mkdir(parents=True, exist_ok=True)
    env = _seaweedfs(stack_dir)
    site = profile_from_env().base_url
    if offline:
        site = _simulator(stack_dir, _port("SIM", 8765))
    if with_airflow:
        _airflow(stack_dir, env, site, offline)
    return env


def _seaweedfs(stack_dir: Path) -> dict[str, str]:
    env_file = stack_dir / "s3.env"
    known = read_env_file(env_file)
    server = SeaweedFS(
        stack_dir / "seaweedfs",
        s3_port=_port("S3", 8333),
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
    from pipelines.settings import Settings
    from pipelines.storage import Bucket

    Bucket(Settings.from_env(env).storage).ensure_bucket(versioning=True)
    print(f"bucket s3://{BUCKET} (versioning on); credentials in {env_file}")
    return env


def _simulator(stack_dir: Path, port: int) -> str:
    home = stack_dir / "simulator"
    home.mkdir(exist_ok=True)
    url = f"http://127.0.0.1:{port}"
    if _alive(home / "simulator.pid"):
        print(f"site simulator already running at {url}")
        return url
    log = open(home / "simulator.log", "ab")  # noqa: SIM115 (owned by the child process)
    command = [
        sys.executable,
        "-m",
        "infra.simulator",
        "serve",
        "--posts",
        "300",
        "--port",
        str(port),
        "--now",
        "auto",
        "--daily-changes",
    ]
    proc = subprocess.Popen(
        command,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        cwd=Path(__file__).resolve().parent.parent,
    )
    (home / "simulator.pid").write_text(str(proc.pid))
    for _ in range(100):
        try:
            urllib.request.urlopen(url + "/robots.txt", timeout=1).close()
            break
        except OSError:
            time.sleep(0.1)
    print(f"site simulator started at {url} (offline mode: the DAGs archive it instead of the live site)")
    return url


def _airflow(stack_dir: Path, storage: dict[str, str], site: str, offline: bool) -> None:
    home, port = stack_dir / "airflow", _port("API", 8080)
    env = airflow_stack.airflow_env(home, port, storage, site, polite=not offline)
    first = not (home / "passwords.json").exists()
    password = airflow_stack.admin_password(home)
    if _alive(home / "api-server.pid"):
        print(f"Airflow already running at http://127.0.0.1:{port}")
    else:
        for name, pid in airflow_stack.start(home, env, port):
            print(f"airflow {name} started (pid {pid})")
    airflow_stack.wait_healthy(port)
    airflow_stack.wait_dags(port, password)
    print(
        f"Airflow UI: http://127.0.0.1:{port}  (user admin; DAGs unpaused: {', '.join(airflow_stack.DAG_IDS)})"
    )
    if first:
        print(f"admin password (shown once; kept in {home / 'passwords.json'}): {password}")


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
        return True
    except (ProcessLookupError, PermissionError):
        return False


def down(stack_dir: Path = STACK_DIR) -> None:
    """Stop every process by its recorded PID, as a process group: children die with their parent (and a
    server whose launcher already exited still has its workers in the group)."""
    for pid_file in sorted(stack_dir.glob("*/*.pid"), key=lambda p: p.parent.name == "seaweedfs"):
        try:
            pgid = int(pid_file.read_text())
        except (OSError, ValueError):
            continue
        if _group_alive(pgid):
            os.killpg(pgid, signal.SIGTERM)
            for _ in range(75):
                if not _group_alive(pgid):
                    break
                time.sleep(0.2)
            else:
                os.killpg(pgid, signal.SIGKILL)
            print(f"stopped {pid_file.stem} (pid {pgid})")
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
    parser.add_argument("--offline", action="store_true", help="serve the site simulator and archive it")
    parser.add_argument("--no-airflow", action="store_true", help="object storage only")
    args = parser.parse_args(argv)
    if args.command == "up":
        up(offline=args.offline, with_airflow=not args.no_airflow)
        return 0
    if args.command == "down":
        down()
        return 0
    return status()


if __name__ == "__main__":
    sys.exit(main())
