"""Airflow for the local stack: api-server, scheduler and dag-processor as separate processes on 127.0.0.1.

Not ``airflow standalone``: its log servers bind 0.0.0.0 and SIGTERM to its parent orphans the children. The
metadata DB is SQLite under the stack's directory (PostgreSQL for production: see the README); the simple auth
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
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DAG_IDS = ("insight_briefs_archive", "insight_briefs_reconcile")
COMMIT_POOL = "briefs_commit"
# SQLite allows one writer at a time. In WAL mode (set once, below) readers no longer block it; a writer waits up to
# 15 s for another instead of failing (e.g. a backfill created from the UI while the scheduler writes). Airflow
# reads this dict by its import path.
SQLITE_CONNECT_ARGS = {"timeout": 15}


def airflow_env(
    home: Path, api_port: int, storage: dict[str, str], site: str, polite: bool
) -> dict[str, str]:
    """Everything Airflow and the tasks need; S3 credentials travel as an env connection, never in the DB."""
    secrets_file = home / "secrets.json"
    if not secrets_file.exists():
        home.mkdir(parents=True, exist_ok=True)
        secrets_file.write_text(json.dumps({"jwt": secrets.token_urlsafe(32), "fernet": _fernet_key()}))
        secrets_file.chmod(0o600)
    keys = json.loads(secrets_file.read_text())
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
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "BRIEFS_S3", "AWS_"))}
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
    return subprocess.run(command, env=env, capture_output=True, text=True, check=check)


def start(home: Path, env: dict, api_port: int) -> list[tuple[str, int]]:
    """Migrate the DB, create the commit pool, start the three processes; returns (name, pid) pairs."""
    airflow(env, "db", "migrate")
    with sqlite3.connect(home / "airflow.db") as db:
        db.execute("PRAGMA journal_mode=WAL")  # persistent: readers stop blocking the scheduler's writes
    airflow(env, "pools", "set", COMMIT_POOL, "1", "insight-briefs commits: one at a time")
    started = []
    for name, args in (
        ("api-server", ["api-server", "-H", "127.0.0.1", "-p", str(api_port), "-w", "1"]),
        ("scheduler", ["scheduler", "--skip-serve-logs"]),
        ("dag-processor", ["dag-processor"]),
    ):
        log = open(home / f"{name}.log", "ab")  # noqa: SIM115 (owned by the child process)
        proc = subprocess.Popen(
            [str(Path(sys.executable).parent / "airflow"), *args],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            cwd=home,
        )
        (home / f"{name}.pid").write_text(str(proc.pid))
        started.append((name, proc.pid))
    return started


def wait_healthy(api_port: int, timeout: float = 120) -> dict:
    """Until the API answers and the scheduler and dag-processor report healthy."""
    deadline, last = time.monotonic() + timeout, {}
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(
                f"http://127.0.0.1:{api_port}/api/v2/monitor/health", timeout=5
            ) as reply:
                last = json.loads(reply.read())
            states = [
                last.get(part, {}).get("status") for part in ("metadatabase", "scheduler", "dag_processor")
            ]
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
