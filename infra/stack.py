"""The local stack: ``uv run python -m infra.stack up [--offline] [--distributed] | down | status``.

- SeaweedFS on 127.0.0.1:8333 with generated credentials and a versioned bucket; ``.stack/s3.env`` (mode 600)
  lets ``briefs`` find the archive without further setup.
- Airflow (api-server on 127.0.0.1:8080, scheduler, dag-processor, triggerer) with both DAGs unpaused, so the
  archive runs nightly, unattended. The admin password is generated and printed on the first ``up``.
- ``--offline``: the site simulator on 127.0.0.1:8765 stands in for insightcrime.org.
- ``--distributed``: PostgreSQL, Redis and two Celery workers (``infra.distributed``); remembered by the stack.

Every process runs under supervisord (``infra.supervisor``): restarted when it dies, logs rotated in
``.stack/logs/``. A second ``up`` changes nothing; ``down`` stops everything; ``status`` exits 1 if anything is down.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import secrets
import signal
import sys
import time
import urllib.request
from pathlib import Path

from pipelines.settings import profile_from_env, read_env_file

from . import airflow_stack, offline
from .seaweedfs import SeaweedFS
from .supervisor import APPS, SERVICES, Program, Supervisor

REPO = Path(__file__).resolve().parent.parent
STACK_DIR = Path(os.environ.get("BRIEFS_STACK_DIR", REPO / ".stack"))
BUCKET = "insight-briefs"
PROFILES = ("default", "distributed")


def _port(name: str, default: int) -> int:
    return _knob(f"{name}_PORT", default)


def _knob(name: str, default: int) -> int:
    """``BRIEFS_<NAME>``: the stack's ports and the offline simulator's size (tests shrink it)."""
    return int(os.environ.get(f"BRIEFS_{name}", default))


def up(
    stack_dir: Path = STACK_DIR, offline: bool = False, with_airflow: bool = True, distributed: bool = False
) -> dict[str, str]:
    """Start (or complete) the stack; returns the storage settings written to ``s3.env``."""
    stack_dir.mkdir(parents=True, exist_ok=True)
    distributed = _profile(stack_dir, distributed) == "distributed"
    _stop_legacy(stack_dir)
    supervisor = Supervisor(stack_dir)
    server = _seaweedfs(stack_dir)
    services = [
        Program("seaweedfs", server.command(), _base_env(), server.data_dir, server.s3_port, "TERM", 3)
    ]
    site = profile_from_env().base_url
    if offline:
        site = f"http://127.0.0.1:{_port('SIM', 8765)}"
        services.append(_simulator(stack_dir, _port("SIM", 8765)))
    overrides: dict[str, str] = {}
    if distributed:
        from . import distributed as dist

        extra, overrides = dist.services(stack_dir)
        services += extra
    _say(supervisor.ensure(services, SERVICES))
    server.wait_ready(60)
    storage = _storage(stack_dir, server)
    if offline:
        _wait_simulator(site)
        _seed(stack_dir, storage, site)
    if distributed:
        dist.ready(stack_dir)
    if with_airflow:
        _airflow(stack_dir, supervisor, storage, site, offline, overrides)
    return storage


def _profile(stack_dir: Path, distributed: bool) -> str:
    """The profile a stack dir was first brought up with: ``up`` without ``--distributed`` keeps it; asking for
    the other one is an error (its Airflow metadata lives in another database)."""
    path, wanted = stack_dir / "profile", "distributed" if distributed else "default"
    known = path.read_text().strip() if path.exists() else None
    if known is None:
        path.write_text(wanted + "\n")
        return wanted
    if distributed and known != wanted:
        raise SystemExit(
            f"{stack_dir} holds the {known} profile: `down` it and bring the {wanted} one up in another directory "
            f"(BRIEFS_STACK_DIR), or remove {path} to switch this one"
        )
    if known != wanted:
        print(f"profile {known} (remembered in {path})")
    return known


def _base_env() -> dict[str, str]:
    """What a service needs from the caller's environment: little, so that the same `up` gives the same env."""
    return {k: os.environ[k] for k in ("PATH", "HOME", "LANG", "TZ") if k in os.environ}


def _seaweedfs(stack_dir: Path) -> SeaweedFS:
    known = read_env_file(stack_dir / "s3.env")
    return SeaweedFS(
        stack_dir / "seaweedfs",
        s3_port=_port("S3", 8333),
        access_key=known.get("AWS_ACCESS_KEY_ID") or "briefs-" + secrets.token_hex(6),
        secret_key=known.get("AWS_SECRET_ACCESS_KEY") or secrets.token_urlsafe(24),
    )


def _storage(stack_dir: Path, server: SeaweedFS) -> dict[str, str]:
    from pipelines.settings import Settings
    from pipelines.storage import Bucket

    env, env_file = server.env(BUCKET), stack_dir / "s3.env"
    fd = os.open(env_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write("# written by `python -m infra.stack up`; read by `briefs` and the DAGs\n")
        out.writelines(f"{k}={v}\n" for k, v in env.items())
    Bucket(Settings.from_env(env).storage).ensure_bucket(versioning=True)
    print(f"bucket s3://{BUCKET} at {server.endpoint} (versioning on); credentials in {env_file}")
    return env


def _simulator(stack_dir: Path, port: int) -> Program:
    (stack_dir / "simulator").mkdir(exist_ok=True)
    command = offline.simulator_command(
        port,
        stack_dir,
        history_days=_knob("SIM_HISTORY_DAYS", offline.HISTORY_DAYS),
        posts=_knob("SIM_POSTS", offline.SIM_POSTS),
    )
    return Program("simulator", command, {**_base_env(), "PYTHONUNBUFFERED": "1"}, REPO, port)


def _wait_simulator(url: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(url + "/robots.txt", timeout=2).close()
            print(f"site simulator at {url} (offline mode: the DAGs archive it instead of the live site)")
            return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"the site simulator did not answer at {url} within {timeout:.0f}s")


def _seed(stack_dir: Path, storage: dict[str, str], url: str) -> None:
    offline.record_simulator(stack_dir, url)
    offline.seed_history(stack_dir, storage, url)


def _airflow(
    stack_dir: Path,
    supervisor: Supervisor,
    storage: dict[str, str],
    site: str,
    offline: bool,
    overrides: dict[str, str],
) -> None:
    home, port = stack_dir / "airflow", _port("API", 8080)
    env = {**airflow_stack.airflow_env(home, port, storage, site, polite=not offline), **overrides}
    first = not (home / "passwords.json").exists()
    password = airflow_stack.admin_password(home)
    programs = airflow_stack.programs(home, env, port)
    if overrides:
        from . import distributed as dist

        programs += dist.workers(stack_dir, env)
    running = {s.name for s in supervisor.states() if s.state == "RUNNING"}
    if not {p.name for p in programs} <= running:
        airflow_stack.prepare(home, env)  # migrations and the commit pool, before the scheduler starts
    _say(supervisor.ensure(programs, APPS))
    airflow_stack.wait_healthy(
        port, timeout=300
    )  # four Airflow processes starting at once on a small machine
    airflow_stack.wait_dags(port, password)
    dags = ", ".join(airflow_stack.DAG_IDS)
    print(f"Airflow UI: http://127.0.0.1:{port}  (user admin; DAGs unpaused: {dags}); health all green")
    if first:
        print(f"admin password (shown once; kept in {home / 'passwords.json'}): {password}")


def _say(lines: list[str]) -> None:
    for line in lines:
        print(line)


# What a stack started before supervision recorded: its pid files, and what each process's command line holds.
LEGACY = {
    "seaweedfs/weed.pid": "weed",
    "simulator/simulator.pid": "infra.simulator",
    "airflow/api-server.pid": "airflow",
    "airflow/scheduler.pid": "airflow",
    "airflow/dag-processor.pid": "airflow",
}


def _stop_legacy(stack_dir: Path) -> None:
    """Processes of a stack started before supervision: stopped once, and only if the recorded pid still runs
    the program it named (a pid file from before a reboot names whatever has that number now)."""
    for name, program in LEGACY.items():
        pid_file = stack_dir / name
        try:
            pgid = int(pid_file.read_text())
            command = Path(f"/proc/{pgid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except (OSError, ValueError):
            pid_file.unlink(missing_ok=True)
            continue
        if program in command:
            with contextlib.suppress(OSError):
                os.killpg(pgid, signal.SIGTERM)
                for _ in range(50):
                    time.sleep(0.1)
                    os.killpg(pgid, 0)
                os.killpg(pgid, signal.SIGKILL)
            print(f"stopped {pid_file.stem} of the unsupervised stack")
        pid_file.unlink(missing_ok=True)


def down(stack_dir: Path = STACK_DIR) -> None:
    """Every process at once (SIGTERM, SIGKILL to its group after a few seconds), then supervisord."""
    started = time.monotonic()
    _stop_legacy(stack_dir)
    _say(Supervisor(stack_dir).stop())
    print(f"stack stopped in {time.monotonic() - started:.1f}s")


def status(stack_dir: Path = STACK_DIR) -> int:
    """One line per process: state, pid, uptime, port. 0 when everything runs, 1 otherwise."""
    supervisor = Supervisor(stack_dir)
    daemon, states = supervisor.pid(), supervisor.states()
    if not states:
        print(f"no stack in {stack_dir}")
        return 1
    print(f"{'process':<16} {'state':<9} {'pid':>7} {'uptime':>9}  port")
    uptime = time.time() - _started(daemon) if daemon else 0
    state = "RUNNING" if daemon else "STOPPED"
    print(f"{'supervisord':<16} {state:<9} {daemon or '-':>7} {_duration(uptime):>9}  {supervisor.socket}")
    for s in states:
        pid = s.pid if s.state == "RUNNING" else "-"
        print(f"{s.name:<16} {s.state:<9} {pid:>7} {_duration(s.uptime):>9}  {s.port or '-'}")
    return 0 if daemon and all(s.state == "RUNNING" for s in states) else 1


def _started(pid: int) -> float:
    import psutil

    return psutil.Process(pid).create_time()


def _started(pid: int) -> float:
    import psutil

    return psutil.Process(pid).create_time()


def _duration(seconds: float) -> str:
    if not seconds:
        return "-"
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    days, hours = divmod(hours, 24)
    return f"{days}d{hours:02d}h" if days else f"{hours}:{minutes:02d}:{secs:02d}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra.stack", description=__doc__.split("\n")[0])
    parser.add_argument("command", choices=["up", "down", "status"])
    parser.add_argument("--offline", action="store_true", help="serve the site simulator and archive it")
    parser.add_argument("--no-airflow", action="store_true", help="object storage only")
    parser.add_argument(
        "--distributed", action="store_true", help="PostgreSQL, Redis and two Celery workers (remembered)"
    )
    args = parser.parse_args(argv)
    if args.command == "up":
        up(offline=args.offline, with_airflow=not args.no_airflow, distributed=args.distributed)
        return 0
    if args.command == "down":
        down()
        return 0
    return status()


if __name__ == "__main__":
    sys.exit(main())
