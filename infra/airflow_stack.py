"""Airflow for the local stack: api-server, scheduler, dag-processor and triggerer, supervised, on 127.0.0.1.

Not ``airflow standalone``: its log servers bind 0.0.0.0 and SIGTERM to its parent orphans the children. The
metadata DB is SQLite under the stack's directory (PostgreSQL with ``up --distributed``); the simple auth
manager has one ``admin`` user whose generated password is printed once and kept in a 0600 file.
"""

from __future__ import annotations

import json
import os
import secrets
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from pathlib import Path

from .supervisor import Program

REPO = Path(__file__).resolve().parent.parent
DAG_IDS = ("insight_briefs_archive", "insight_briefs_reconcile")
COMMIT_POOL = "briefs_commit"
# SQLite allows one writer at a time. In WAL mode (set once, below) readers no longer block it; a writer waits up to
# 15 s for another instead of failing (e.g. a backfill created from the UI while the scheduler writes). Airflow
# reads this dict by its import path.
SQLITE_CONNECT_ARGS = {"timeout": 15}
# Airflow signs its tokens with HS512, whose key PyJWT wants at least 64 bytes long (InsecureKeyLengthWarning).
JWT_SECRET_BYTES = 64
STOP_WAIT_SECS = 1  # Airflow processes linger after their graceful exit; `down` must take < 5 s
HEALTH_PARTS = ("metadatabase", "scheduler", "triggerer", "dag_processor")
# What the Airflow processes inherit from the caller: a fixed list, so that a second `up` from another shell
# starts the same environment (and changes nothing). BRIEFS_* and AIRFLOW__* reach the DAGs; the stack's own
# settings win.
INHERITED = ("PATH", "HOME", "USER", "LOGNAME", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "TMPDIR", "SSL_CERT_FILE")
INHERITED_PREFIXES = (
    "BRIEFS_",
    "AIRFLOW__",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "NO_PROXY",
    "http_proxy",
    "https_proxy",
)


def airflow_env(
    home: Path, api_port: int, storage: dict[str, str], site: str, polite: bool
) -> dict[str, str]:
    """Everything Airflow and the tasks need; S3 credentials travel as an env connection, never in the DB."""
    keys = _keys(home)
    connection = {
        "conn_type": "aws",
        "login": storage["AWS_ACCESS_KEY_ID"],
        "password": storage["AWS_SECRET_ACCESS_KEY"],
        "extra": {
            "endpoint_url": storage["BRIEFS_S3_ENDPOINT_URL"],
            "bucket": storage["BRIEFS_S3_BUCKET"],
            "prefix": storage["BRIEFS_S3_PREFIX"],
            "region_name": storage.get("AWS_DEFAULT_REGION", "us-east-1"),
        },
    }
    env = {
        k: v
        for k, v in os.environ.items()
        if (k in INHERITED or k.startswith(INHERITED_PREFIXES)) and not k.startswith("BRIEFS_S3")
    }
    env.update(
        {
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__PARALLELISM": "2",
            "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
            "AIRFLOW__CORE__FERNET_KEY": keys["fernet"],
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONNECT_ARGS": "infra.airflow_stack.SQLITE_CONNECT_ARGS",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "admin:admin",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(home / "passwords.json"),
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API__PORT": str(api_port),
            "AIRFLOW__API__BASE_URL": f"http://127.0.0.1:{api_port}",
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{api_port}/execution/",
            "AIRFLOW__API_AUTH__JWT_SECRET": keys["jwt"],
            "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": "0",
            "AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK": "False",
            "AIRFLOW_CONN_BRIEFS_S3": json.dumps(connection),
            "BRIEFS_SITE": site,
            "BRIEFS_POLITE": "true" if polite else "false",
            "BRIEFS_STACK_DIR": str(home.parent),
        }
    )
    return env


def _keys(home: Path) -> dict[str, str]:
    """The JWT secret and Fernet key, generated once (0600); a JWT secret from an older stack that is too short
    for HS512 is replaced (tokens signed with it merely expire)."""
    path = home / "secrets.json"
    keys = json.loads(path.read_text()) if path.exists() else {}
    if len(keys.get("jwt", "")) < JWT_SECRET_BYTES or "fernet" not in keys:
        keys = {"fernet": _fernet_key(), **keys, "jwt": secrets.token_urlsafe(JWT_SECRET_BYTES)}
        home.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            json.dump(keys, out)
    return keys


def _fernet_key() -> str:
    from cryptography.fernet import Fernet

    return Fernet.generate_key().decode()


def admin_password(home: Path) -> str:
    """The admin password, generated on first use and kept in the simple auth manager's 0600 file."""
    path = home / "passwords.json"
    if not path.exists():
        home.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"admin": secrets.token_urlsafe(12)}))
        path.chmod(0o600)
    return json.loads(path.read_text())["admin"]


def airflow(env: dict, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    command = [str(Path(sys.executable).parent / "airflow"), *args]
    done = subprocess.run(command, env=env, capture_output=True, text=True)
    if check and done.returncode:
        raise RuntimeError(f"`airflow {' '.join(args)}` failed ({done.returncode}):\n{done.stderr[-2000:]}")
    return done


def prepare(home: Path, env: Mapping[str, str]) -> None:
    """Migrate the metadata DB and create the commit pool (both idempotent)."""
    airflow(dict(env), "db", "migrate")
    if env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].startswith("sqlite"):
        with sqlite3.connect(home / "airflow.db") as db:
            db.execute("PRAGMA journal_mode=WAL")  # persistent: readers stop blocking the scheduler's writes
    airflow(dict(env), "pools", "set", COMMIT_POOL, "1", "insight-briefs commits: one at a time")


def programs(home: Path, env: Mapping[str, str], api_port: int) -> list[Program]:
    """The four Airflow processes; none serves logs on a port of its own (tasks log to files under the home).

    SIGTERM first, SIGKILL to the process group 2 s later: they log their graceful exit within a second, then
    linger (the triggerer 10 s, the api-server 16 s measured) for nothing the metadata DB or a retry needs."""
    binary = str(Path(sys.executable).parent / "airflow")
    stop = {"stop_wait_secs": STOP_WAIT_SECS}
    return [
        Program(
            "api-server",
            [binary, "api-server", "-H", "127.0.0.1", "-p", str(api_port), "-w", "1"],
            env,
            home,
            port=api_port,
            **stop,
        ),
        Program("scheduler", [binary, "scheduler", "--skip-serve-logs"], env, home, **stop),
        Program("dag-processor", [binary, "dag-processor"], env, home, **stop),
        Program("triggerer", [binary, "triggerer", "--skip-serve-logs"], env, home, **stop),
    ]


def wait_healthy(api_port: int, timeout: float = 120) -> dict:
    """Until the API answers and the health panel is all green (metadatabase, scheduler, triggerer and
    dag-processor)."""
    deadline, last = time.monotonic() + timeout, {}
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(
                f"http://127.0.0.1:{api_port}/api/v2/monitor/health", timeout=5
            ) as reply:
                last = json.loads(reply.read())
            states = [last.get(part, {}).get("status") for part in HEALTH_PARTS]
            if all(s == "healthy" for s in states):
                return last
        except (urllib.error.URLError, OSError, ValueError):
            pass
        time.sleep(1)
    raise RuntimeError(
        f"Airflow did not become healthy on 127.0.0.1:{api_port} within {timeout:.0f}s: {last}"
    )


def token(api_port: int, password: str) -> str:
    request = urllib.request.Request(
        f"http://127.0.0.1:{api_port}/auth/token",
        method="POST",
        data=json.dumps({"username": "admin", "password": password}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as reply:
        return json.loads(reply.read())["access_token"]


def wait_dags(api_port: int, password: str, timeout: float = 180) -> None:
    """Until the dag-processor has parsed both DAGs, and they are unpaused (nightly, unattended).

    New DAGs start unpaused here (DAGS_ARE_PAUSED_AT_CREATION=False); a DAG a user paused is unpaused again. The
    first minute is busy (parsing, first runs) and SQLite serialises writers, so slow answers are retried.
    """
    deadline = time.monotonic() + timeout
    headers = {"Authorization": f"Bearer {token(api_port, password)}", "Content-Type": "application/json"}
    pending = set(DAG_IDS)
    while pending and time.monotonic() < deadline:
        for dag_id in sorted(pending):
            url = f"http://127.0.0.1:{api_port}/api/v2/dags/{dag_id}"
            try:
                with urllib.request.urlopen(
                    urllib.request.Request(url, headers=headers), timeout=30
                ) as reply:
                    paused = json.loads(reply.read())["is_paused"]
                if paused:
                    body = json.dumps({"is_paused": False}).encode()
                    urllib.request.urlopen(
                        urllib.request.Request(url, body, headers, method="PATCH"), timeout=30
                    ).close()
                pending.discard(dag_id)
            except urllib.error.HTTPError as err:
                if err.code not in (404, 503):
                    raise
            except (TimeoutError, urllib.error.URLError):
                pass
        time.sleep(1)
    if pending:
        raise RuntimeError(
            f"the DAGs {sorted(pending)} did not appear within {timeout:.0f}s (see dag-processor.log)"
        )
