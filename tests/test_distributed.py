"""The distributed profile (`infra.stack up --offline --distributed`): PostgreSQL, Redis, the CeleryExecutor and two
Celery workers, all real, on 127.0.0.1. A 7-day backfill runs on both workers with commits one at a time, and a
worker killed -9 in the middle of a crawl or clean task costs a retry, never a run or a duplicate snapshot."""

from __future__ import annotations

import collections
import contextlib
import itertools
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil
import pytest

from infra.seaweedfs import free_port, free_port_block
from tests.stack_client import api, backfill_body, create_backfill, held_sockets, token

REPO = Path(__file__).resolve().parent.parent
DAG = "insight_briefs_archive"
DAYS = [f"2026-11-{day}" for day in range(20, 27)]
WORKERS = {"worker1", "worker2"}
OTHER_DAGS = ("insight_briefs_reconcile", "insight_briefs_maintenance")


@pytest.fixture(scope="module")
def stack():
    # Not under pytest's tmp dir: that is root's 0700 directory, and PostgreSQL runs as the `postgres` user.
    home = Path(tempfile.mkdtemp(prefix="briefs-distributed-"))
    home.chmod(0o711)
    ports = {
        "BRIEFS_API_PORT": free_port(),
        "BRIEFS_S3_PORT": free_port_block() + 3,
        "BRIEFS_SIM_PORT": free_port(),
        "BRIEFS_PG_PORT": free_port(),
        "BRIEFS_REDIS_PORT": free_port(),
    }
    env = {**os.environ, "BRIEFS_STACK_DIR": str(home), **{k: str(v) for k, v in ports.items()}}
    env.update(
        BRIEFS_SIM_POSTS="60", BRIEFS_SIM_HISTORY_DAYS="0"
    )  # a small site, no seeded days: the backfill is the test
    command = [sys.executable, "-m", "infra.stack"]
    try:
        up = subprocess.run(
            [*command, "up", "--offline", "--distributed"],
            env=env,
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert up.returncode == 0, up.stdout + up.stderr
        password = json.loads((home / "airflow" / "passwords.json").read_text())["admin"]
        stack = {
            "home": home,
            "api": f"http://127.0.0.1:{ports['BRIEFS_API_PORT']}",
            "password": password,
            "env": env,
            "ports": ports,
        }
        for dag_id in OTHER_DAGS:  # their first runs would compete with the backfill for the two workers
            api(stack, "PATCH", f"/api/v2/dags/{dag_id}", {"is_paused": True}, token=token(stack))
        yield stack
    finally:
        subprocess.run([*command, "down"], env=env, cwd=REPO, capture_output=True, timeout=120)
        shutil.rmtree(home, ignore_errors=True)


def worker_pids(stack) -> dict[str, int]:
    from infra.supervisor import Supervisor

    return {s.name: s.pid for s in Supervisor(stack["home"]).states() if s.name in WORKERS and s.pid}


def kill_tree(pid: int) -> list[int]:
    """SIGKILL a worker and every process below it (the task runs in a process group of its own): the machine
    running it is gone."""
    root = psutil.Process(pid)
    procs = [root, *root.children(recursive=True)]
    for proc in procs:
        with contextlib.suppress(psutil.NoSuchProcess):
            proc.send_signal(signal.SIGKILL)
    psutil.wait_procs(procs, timeout=10)
    return [p.pid for p in procs]


def task_instances(stack, run_id: str) -> list[dict]:
    _, body = api(stack, "GET", f"/api/v2/dags/{DAG}/dagRuns/{run_id}/taskInstances", token=token(stack))
    return body["task_instances"]


def tries(stack, run_id: str, task_id: str) -> list[dict]:
    path = f"/api/v2/dags/{DAG}/dagRuns/{run_id}/taskInstances/{task_id}/tries"
    _, body = api(stack, "GET", path, token=token(stack))
    return body["task_instances"]


def backfill_runs(stack) -> list[dict]:
    _, body = api(stack, "GET", f"/api/v2/dags/{DAG}/dagRuns?run_type=backfill&limit=100", token=token(stack))
    return [r for r in body.get("dag_runs", []) if r["logical_date"][:10] in DAYS]


def kill_a_worker_mid_task(stack, timeout: float = 300) -> dict:
    """Wait for a crawl or clean task running on a worker, then kill that worker's whole process tree."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        _, body = api(
            stack,
            "GET",
            f"/api/v2/dags/{DAG}/dagRuns/~/taskInstances?state=running",
            token=token(stack),
        )
        for ti in body.get("task_instances", []):
            worker = (ti.get("hostname") or "").split("@")[0]
            ours = ti["dag_run_id"].startswith("backfill__")
            if ours and ti["task_id"] in ("crawl", "clean") and worker in WORKERS:
                killed = kill_tree(worker_pids(stack)[worker])
                return {**ti, "worker": worker, "killed": killed}
        time.sleep(0.3)
    raise AssertionError("no crawl or clean task was seen running on a worker")


def wait_runs(stack, timeout: float = 420) -> list[dict]:
    deadline, runs = time.monotonic() + timeout, []
    while time.monotonic() < deadline:
        runs = backfill_runs(stack)
        if len(runs) == len(DAYS) and all(r["state"] in ("success", "failed") for r in runs):
            return runs
        time.sleep(3)
    raise AssertionError(f"backfill runs did not finish: {[(r['logical_date'], r['state']) for r in runs]}")


def manifests_per_run(stack) -> collections.Counter:
    from pipelines.archive import Archive
    from pipelines.settings import Settings

    archive = Archive.from_settings(Settings.from_env({}, env_file=stack["home"] / "s3.env"))
    return collections.Counter(archive.manifest(seq).run.get("run_id") for seq in archive.seqs())


def test_backfill_on_two_workers_survives_a_killed_worker(stack):
    status, backfill = create_backfill(
        stack,
        backfill_body(DAG, DAYS[0], DAYS[-1], max_active_runs=3),
    )
    assert status == 200, backfill
    killed = kill_a_worker_mid_task(stack)
    runs = wait_runs(stack)
    assert {r["state"] for r in runs} == {"success"}, [(r["logical_date"], r["state"]) for r in runs]

    # The killed try failed (its worker stopped heartbeating) and a later try finished the task.
    attempts = tries(stack, killed["dag_run_id"], killed["task_id"])
    first = next(t for t in attempts if t["try_number"] == killed["try_number"])
    assert first["hostname"].startswith(killed["worker"] + "@") and first["state"] == "failed", attempts
    final = next(t for t in task_instances(stack, killed["dag_run_id"]) if t["task_id"] == killed["task_id"])
    assert final["state"] == "success" and final["try_number"] > killed["try_number"], final
    assert not any(psutil.pid_exists(pid) for pid in killed["killed"]), "the killed processes stay dead"

    # Both workers ran tasks (each task instance names its worker).
    instances = [ti for r in runs for ti in task_instances(stack, r["dag_run_id"])]
    assert {ti["hostname"].split("@")[0] for ti in instances} == WORKERS, collections.Counter(
        ti["hostname"] for ti in instances
    )

    # Commits ran one at a time (pool briefs_commit, one slot): no two commit tries overlap.
    commits = sorted(
        (t["start_date"], t["end_date"])
        for r in runs
        for t in tries(stack, r["dag_run_id"], "commit")
        if t["start_date"]
    )
    assert len(commits) >= len(DAYS)
    for (_, end), (start, _) in itertools.pairwise(commits):
        assert end <= start, f"commits overlap: one ended at {end}, the next started at {start}"

    # The archive converged: exactly one snapshot per run, none lost, none duplicated.
    per_run = manifests_per_run(stack)
    assert {r["dag_run_id"]: per_run[r["dag_run_id"]] for r in runs} == {r["dag_run_id"]: 1 for r in runs}


def test_everything_listens_on_loopback_only_and_secrets_stay_in_0600_files(stack):
    pids = set()
    from infra.supervisor import Supervisor

    for state in Supervisor(stack["home"]).states():
        if state.pid:
            root = psutil.Process(state.pid)
            pids |= {root.pid, *(c.pid for c in root.children(recursive=True))}
    bound = {address: psutil.Process(pid).name() for address, pid in held_sockets(pids)}
    ports = stack["ports"]
    for name in ("BRIEFS_PG_PORT", "BRIEFS_REDIS_PORT", "BRIEFS_API_PORT"):
        assert f"127.0.0.1:{ports[name]}" in bound, (name, bound)
    assert all(addr.startswith(("127.0.0.1:", "::1:")) for addr in bound), bound
    keys = json.loads((stack["home"] / "distributed.json").read_text())
    assert (stack["home"] / "distributed.json").stat().st_mode & 0o777 == 0o600
    assert (stack["home"] / "redis" / "redis.conf").stat().st_mode & 0o777 == 0o600
    logs = [*(stack["home"] / "logs").rglob("*"), *(stack["home"] / "airflow" / "logs").rglob("*")]
    assert any(path.name.endswith(".log") for path in logs)
    leaks = [
        str(path)
        for path in logs
        if path.is_file() and any(k.encode() in path.read_bytes() for k in keys.values())
    ]
    assert leaks == []
