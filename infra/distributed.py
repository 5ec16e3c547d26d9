"""The distributed profile of the local stack (``python -m infra.stack up --distributed``): production's topology
on one machine.

PostgreSQL (Debian ``postgresql``) is Airflow's metadata database, Redis (Debian ``redis-server``) the Celery
broker, and two Celery workers run the tasks as separate processes, so a task can land on either and a worker can
die without losing a run. Everything listens on 127.0.0.1 only (PostgreSQL has no Unix socket, Redis neither);
the passwords are generated once and kept in ``distributed.json`` (mode 600) under the stack's directory.
PostgreSQL refuses to run as root: as root, it runs as the ``postgres`` OS user (``setpriv``, which execs, so the
supervisor signals PostgreSQL itself) on a data directory that user owns.
"""

from __future__ import annotations

import glob
import json
import os
import pwd
import secrets
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # imported where used: every Airflow process imports this module (PG_CONNECT_ARGS)
    from .supervisor import Program

WORKERS = ("worker1", "worker2")
DEBIAN_PACKAGES = {"redis-server": "redis-server", "setpriv": "util-linux"}
PG_USER = "postgres"  # the OS user PostgreSQL runs as when we are root (Debian's package creates it)
# Airflow reads these connect args by import path; the SQLite ones of the default stack do not apply to psycopg2.
PG_CONNECT_ARGS = {"connect_timeout": 10}
# A worker that dies mid-task stops heartbeating; the scheduler fails the try after this many seconds and the task
# retries (Airflow's default, 300 s, is long for one machine; a task's heartbeat is sent every 5 s).
HEARTBEAT_TIMEOUT_S = 60


def _port(name: str, default: int) -> int:
    return int(os.environ.get(f"BRIEFS_{name}_PORT", default))


def _secrets(stack_dir: Path) -> dict[str, str]:
    """The generated passwords (PostgreSQL superuser, the airflow role, Redis), kept in a 0600 file."""
    path = stack_dir / "distributed.json"
    if not path.exists():
        stack_dir.mkdir(parents=True, exist_ok=True)
        fresh = {name: secrets.token_hex(24) for name in ("postgres", "airflow", "redis")}
        path.touch(mode=0o600)
        path.write_text(json.dumps(fresh))
    path.chmod(0o600)
    return json.loads(path.read_text())


def _which(name: str) -> str:
    """An absolute executable (supervisord's programs start without a shell or PATH lookup)."""
    found = shutil.which(name)
    if not found:
        raise RuntimeError(f"{name} is not installed (Debian: apt-get install {DEBIAN_PACKAGES[name]})")
    return found


def _pg_bin() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/postgres"), key=lambda p: int(Path(p).parts[4]))
    if not found:
        raise RuntimeError("PostgreSQL is not installed (Debian: apt-get install postgresql)")
    return Path(found[-1]).parent


def _as_pg_user() -> list[str]:
    """The prefix that runs a PostgreSQL binary as an unprivileged user: ``postgres`` if we are root."""
    if os.geteuid() != 0:
        return []
    return [_which("setpriv"), f"--reuid={PG_USER}", f"--regid={PG_USER}", "--init-groups", "--"]


def _pg_home(stack_dir: Path) -> Path:
    """``postgres/`` under the stack's directory, owned by the user PostgreSQL runs as (mode 700)."""
    home = stack_dir / "postgres"
    home.mkdir(parents=True, exist_ok=True)
    if os.geteuid() == 0:
        user = pwd.getpwnam(PG_USER)
        os.chown(home, user.pw_uid, user.pw_gid)
        if subprocess.run([*_as_pg_user(), "test", "-w", str(home)]).returncode:
            raise RuntimeError(
                f"PostgreSQL runs as the {PG_USER!r} user, which cannot reach {home}: make its parent "
                "directories searchable (chmod o+x) or set BRIEFS_STACK_DIR to a directory it can reach"
            )
    home.chmod(0o700)
    return home


def _initdb(home: Path, superuser_password: str) -> None:
    """A new cluster: password (SCRAM) logins over TCP only, UTF-8, the C locale (no locale packages needed)."""
    pw_file = home / "initdb.pw"
    pw_file.touch(mode=0o600)
    pw_file.write_text(superuser_password)
    if os.geteuid() == 0:
        user = pwd.getpwnam(PG_USER)
        os.chown(pw_file, user.pw_uid, user.pw_gid)
    try:
        subprocess.run(
            [
                *_as_pg_user(),
                str(_pg_bin() / "initdb"),
                "-D",
                str(home / "data"),
                "-U",
                "postgres",
                f"--pwfile={pw_file}",
                "--auth-host=scram-sha-256",
                "--auth-local=scram-sha-256",
                "--encoding=UTF8",
                "--locale=C",
                "--no-instructions",
            ],
            check=True,
            capture_output=True,
            text=True,
            cwd=home,
        )
    except subprocess.CalledProcessError as err:
        raise RuntimeError(f"initdb failed: {err.stderr.strip()[-2000:]}") from None
    finally:
        pw_file.unlink(missing_ok=True)


def _redis_conf(stack_dir: Path, port: int, password: str) -> Path:
    """Redis's configuration, in a 0600 file (the password never appears on a command line)."""
    home = stack_dir / "redis"
    home.mkdir(parents=True, exist_ok=True)
    conf = home / "redis.conf"
    conf.touch(mode=0o600)
    conf.chmod(0o600)
    conf.write_text(
        "# written by infra.distributed; the Celery broker of the distributed stack\n"
        f"bind 127.0.0.1\nport {port}\nprotected-mode yes\nrequirepass {password}\n"
        f'daemonize no\ndir {home}\nlogfile ""\nsave ""\nappendonly yes\nappendfsync everysec\n'
    )
    return conf


def services(stack_dir: Path) -> tuple[list[Program], dict[str, str]]:
    """PostgreSQL and Redis programs (initdb done here if the data dir is new) and the Airflow env overrides that
    make Airflow use them: PostgreSQL as metadata DB and Celery result backend, Redis as broker."""
    from .supervisor import Program

    keys = _secrets(stack_dir)
    pg_port, redis_port = _port("PG", 5433), _port("REDIS", 6380)
    home = _pg_home(stack_dir)
    if not (home / "data" / "PG_VERSION").exists():
        _initdb(home, keys["postgres"])
    postgres = Program(
        name="postgres",
        command=[
            *_as_pg_user(),
            str(_pg_bin() / "postgres"),
            "-D",
            str(home / "data"),
            "-c",
            "listen_addresses=127.0.0.1",
            "-c",
            f"port={pg_port}",
            "-c",
            "unix_socket_directories=",
            "-c",
            "shared_buffers=32MB",
            "-c",
            "max_connections=100",
        ],
        env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C"},
        cwd=home,
        port=pg_port,
        stop_signal="INT",  # fast shutdown: SIGTERM would wait for Airflow's pooled connections to close
        stop_wait_secs=3,
    )
    redis = Program(
        name="redis",
        command=[_which("redis-server"), str(_redis_conf(stack_dir, redis_port, keys["redis"]))],
        env={"PATH": os.environ.get("PATH", "/usr/bin:/bin")},
        cwd=stack_dir / "redis",
        port=redis_port,
    )
    database = f"airflow:{keys['airflow']}@127.0.0.1:{pg_port}/airflow"
    overrides = {
        "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"postgresql+psycopg2://{database}",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONNECT_ARGS": "infra.distributed.PG_CONNECT_ARGS",
        "AIRFLOW__CELERY__BROKER_URL": f"redis://:{keys['redis']}@127.0.0.1:{redis_port}/0",
        "AIRFLOW__CELERY__RESULT_BACKEND": f"db+postgresql+psycopg2://{database}",
        "AIRFLOW__CELERY__WORKER_CONCURRENCY": "1",
        "AIRFLOW__CORE__PARALLELISM": str(len(WORKERS)),
        "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": str(HEARTBEAT_TIMEOUT_S),
        # Redis redelivers a task not acknowledged within this time: longer than the longest task (crawl: 3 h).
        "AIRFLOW__CELERY_BROKER_TRANSPORT_OPTIONS__VISIBILITY_TIMEOUT": str(4 * 3600),
    }
    return [postgres, redis], overrides


def ready(stack_dir: Path, timeout: float = 60) -> None:
    """Until PostgreSQL accepts connections and Redis answers PING; creates the airflow role and DB once."""
    import psycopg2
    import redis

    keys = _secrets(stack_dir)
    pg_port, redis_port = _port("PG", 5433), _port("REDIS", 6380)
    deadline, last = time.monotonic() + timeout, None
    while True:
        try:
            db = psycopg2.connect(
                host="127.0.0.1",
                port=pg_port,
                user="postgres",
                password=keys["postgres"],
                dbname="postgres",
                connect_timeout=3,
            )
            redis.Redis(host="127.0.0.1", port=redis_port, password=keys["redis"], socket_timeout=3).ping()
            break
        except (psycopg2.OperationalError, redis.RedisError) as exc:
            last = exc
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"PostgreSQL (127.0.0.1:{pg_port}) or Redis (127.0.0.1:{redis_port}) not ready "
                    f"within {timeout:.0f}s: {type(last).__name__}"
                ) from None
            time.sleep(0.3)
    db.autocommit = True
    try:
        with db.cursor() as cur:
            cur.execute("SELECT 1 FROM pg_roles WHERE rolname = 'airflow'")
            if not cur.fetchone():
                cur.execute("CREATE ROLE airflow LOGIN PASSWORD %s", (keys["airflow"],))
            cur.execute("SELECT 1 FROM pg_database WHERE datname = 'airflow'")
            if not cur.fetchone():
                cur.execute("CREATE DATABASE airflow OWNER airflow ENCODING 'UTF8'")
    finally:
        db.close()


def worker_hostname() -> str:
    """Airflow's ``hostname_callable`` in the workers: ``worker1@host``, so each task instance names its worker."""
    return f"{os.environ.get('BRIEFS_WORKER_NAME', 'worker')}@{socket.getfqdn()}"


def workers(stack_dir: Path, airflow_env: Mapping[str, str]) -> list[Program]:
    """The two Celery workers, one task at a time each; no log server (the API server reads the log files)."""
    from .supervisor import Program

    airflow = str(Path(sys.executable).parent / "airflow")
    return [
        Program(
            name=name,
            command=[
                airflow,
                "celery",
                "worker",
                "-H",
                f"{name}@%h",
                "--concurrency",
                airflow_env.get("AIRFLOW__CELERY__WORKER_CONCURRENCY", "1"),
                "--skip-serve-logs",
                "--without-gossip",
                "--without-mingle",
            ],
            env={
                **airflow_env,
                "BRIEFS_WORKER_NAME": name,
                "AIRFLOW__CORE__HOSTNAME_CALLABLE": "infra.distributed.worker_hostname",
            },
            cwd=stack_dir / "airflow",
        )
        for name in WORKERS
    ]
