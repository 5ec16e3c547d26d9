"""The local stack as a user runs it: `infra.stack up --offline`, the REST API, and the UI in a real browser."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from infra.seaweedfs import free_port_block

if TYPE_CHECKING:
    from pipelines.documents import Manifest

REPO = Path(__file__).resolve().parent.parent
DAG = "insight_briefs_archive"
EXAMPLE = "insight_briefs_example_on_new_snapshot"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def stack(tmp_path_factory, request):
    home = tmp_path_factory.mktemp("stack")
    ports = {
        "BRIEFS_API_PORT": _free_port(),
        "BRIEFS_S3_PORT": free_port_block() + 3,
        "BRIEFS_SIM_PORT": _free_port(),
    }
    env = {**os.environ, "BRIEFS_STACK_DIR": str(home), **{k: str(v) for k, v in ports.items()}}
    command = [sys.executable, "-m", "infra.stack"]
    up = subprocess.run(
        [*command, "up", "--offline"], env=env, cwd=REPO, capture_output=True, text=True, timeout=600
    )
    assert up.returncode == 0, up.stdout + up.stderr
    password = json.loads((home / "airflow" / "passwords.json").read_text())["admin"]
    assert password in up.stdout, "the generated admin password is shown on the first `up`"
    again = subprocess.run([*command, "up", "--offline"], env=env, cwd=REPO, capture_output=True, text=True)
    assert again.returncode == 0 and "already running" in again.stdout and password not in again.stdout
    yield {
        "home": home,
        "api": f"http://127.0.0.1:{ports['BRIEFS_API_PORT']}",
        "password": password,
        "env": env,
    }
    subprocess.run([*command, "down"], env=env, cwd=REPO, capture_output=True, timeout=120)


def api(
    stack, method: str, path: str, body: dict | None = None, token: str | None = None
) -> tuple[int, dict]:
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(stack["api"] + path, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=30) as reply:
            return reply.status, json.loads(reply.read() or b"{}")
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read() or b"{}")


def token(stack) -> str:
    status, body = api(stack, "POST", "/auth/token", {"username": "admin", "password": stack["password"]})
    assert status in (200, 201), body
    return body["access_token"]


def wait_backfill_runs(stack, count: int, logical_dates: set[str], timeout: float = 420) -> list[dict]:
    deadline, runs = time.monotonic() + timeout, []
    while time.monotonic() < deadline:
        _, body = api(
            stack, "GET", f"/api/v2/dags/{DAG}/dagRuns?run_type=backfill&limit=100", token=token(stack)
        )
        runs = [r for r in body.get("dag_runs", []) if r["logical_date"][:10] in logical_dates]
        if len(runs) == count and all(r["state"] in ("success", "failed") for r in runs):
            return runs
        time.sleep(3)
    raise AssertionError(f"backfill runs did not finish: {[(r['logical_date'], r['state']) for r in runs]}")


def wait_backfills_done(stack, timeout: float = 300) -> None:
    """One running backfill per DAG: a new one can be created only when the last is marked complete."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        _, body = api(stack, "GET", f"/api/v2/backfills?dag_id={DAG}", token=token(stack))
        if all(b.get("completed_at") for b in body.get("backfills", [])):
            return
        time.sleep(3)
    raise AssertionError(f"backfills still running: {body}")


def snapshots_by_run(stack) -> dict[str, Manifest]:
    from pipelines.archive import Archive
    from pipelines.settings import Settings

    archive = Archive.from_settings(Settings.from_env({}, env_file=stack["home"] / "s3.env"))
    return {m.run.get("run_id"): m for m in (archive.manifest(seq) for seq in archive.seqs())}


def wait_idle(stack, timeout: float = 420) -> None:
    """The stack's first scheduled runs start with it; SQLite takes one writer at a time, so a backfill created
    while they write can get 503 (database locked). Let them finish first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        _, body = api(stack, "GET", "/api/v2/dags/~/dagRuns?state=running&state=queued", token=token(stack))
        if not body.get("dag_runs"):
            return
        time.sleep(3)
    raise AssertionError(f"runs still active: {[(r['dag_id'], r['state']) for r in body['dag_runs']]}")


def test_api_needs_a_token_and_backfills_three_days(stack):
    wait_idle(stack)
    assert api(stack, "GET", "/api/v2/dags")[0] == 401
    assert api(stack, "POST", "/auth/token", {"username": "admin", "password": "wrong"})[0] == 401
    status, example = api(stack, "PATCH", f"/api/v2/dags/{EXAMPLE}", {"is_paused": False}, token=token(stack))
    assert status == 200 and example["is_paused"] is False, example
    status, backfill = api(
        stack,
        "POST",
        "/api/v2/backfills",
        {
            "dag_id": DAG,
            "from_date": "2026-11-22T00:00:00Z",
            "to_date": "2026-11-24T23:59:00Z",
            "max_active_runs": 1,
            "reprocess_behavior": "completed",
            "run_backwards": False,
            "dag_run_conf": {},
        },
        token=token(stack),
    )
    assert status == 200, backfill
    runs = wait_backfill_runs(stack, 3, {"2026-11-22", "2026-11-23", "2026-11-24"})
    assert {r["state"] for r in runs} == {"success"}
    manifests = snapshots_by_run(stack)
    assert {r["dag_run_id"] for r in runs} <= set(manifests), "each backfilled day committed a snapshot"
    windows = {tuple(manifests[r["dag_run_id"]].run["window"]) for r in runs}
    assert len(windows) == 3, "one window per logical date"
    committed = {manifests[r["dag_run_id"]].seq for r in runs}
    _, body = api(stack, "GET", f"/api/v2/assets/events?source_dag_id={DAG}&limit=100", token=token(stack))
    backfilled = {r["dag_run_id"] for r in runs}
    ours = [e for e in body["asset_events"] if e["source_run_id"] in backfilled]
    announced = [e for e in ours if e["uri"] == "s3://insight-briefs/insightcrime/snapshots"]
    assert sorted(e["extra"]["seq"] for e in announced) == sorted(committed), "one Asset event per snapshot"
    published = [e for e in ours if e["uri"] == "s3://insight-briefs/insightcrime/tables/versions"]
    assert {s for e in published for s in e["extra"]["snapshots"]} >= committed, "the table caught up"
    assert committed <= example_dag_saw(stack), "the example DAG ran on the new snapshots"


def example_dag_saw(stack, timeout: float = 180) -> set[int]:
    """The snapshot numbers the example DAG's runs were triggered by, once its runs are done."""
    deadline, seen = time.monotonic() + timeout, set()
    while time.monotonic() < deadline:
        _, body = api(stack, "GET", f"/api/v2/dags/{EXAMPLE}/dagRuns?limit=100", token=token(stack))
        runs = body.get("dag_runs", [])
        if runs and all(r["state"] in ("success", "failed") for r in runs):
            assert {r["state"] for r in runs} == {"success"}, runs
            for run in runs:
                path = (
                    f"/api/v2/dags/{EXAMPLE}/dagRuns/{run['dag_run_id']}/taskInstances/summarise/"
                    "xcomEntries/return_value"
                )
                _, xcom = api(stack, "GET", path, token=token(stack))
                seen |= {extra["seq"] for extra in xcom.get("value") or []}
            return seen
        time.sleep(3)
    raise AssertionError(f"the example DAG's runs did not finish: {body}")


@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian chromium is installed by .ci/run")
def test_backfill_from_the_ui_in_a_real_browser(stack, tmp_path):
    from playwright.sync_api import sync_playwright

    wait_backfills_done(stack)
    shots = REPO / "docs" / "img" if os.environ.get("BRIEFS_SCREENSHOTS") == "docs" else tmp_path
    shots.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(stack["api"] + f"/dags/{DAG}")
        page.wait_for_url("**/auth/login**", timeout=30000)  # the UI needs a login
        page.get_by_label("Username").fill("admin")
        page.get_by_label("Password").fill(stack["password"])
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url(f"**/dags/{DAG}**", timeout=30000)
        page.get_by_role("button", name="Trigger").first.click()
        dialog = page.locator("[role=dialog][data-scope=dialog][data-state=open]")
        dialog.get_by_text("Backfill", exact=True).click()
        for index, (day, clock) in enumerate([("2026/11/18", "00:00"), ("2026/11/19", "23:00")]):
            page.get_by_test_id("datetime-input").nth(index).click()
            picker = page.locator("[data-scope=popover][data-part=content][data-state=open]")
            picker.get_by_placeholder("YYYY/MM/DD").fill(day)
            picker.get_by_placeholder("HH:mm").fill(clock)
            dialog.get_by_text("Date Range").click()  # closes the picker
        dialog.get_by_text("2 runs will be triggered").wait_for(timeout=10000)
        page.screenshot(path=str(shots / "backfill-dialog.png"))
        dialog.get_by_role("button", name="Run Backfill").click()
        try:
            dialog.wait_for(state="hidden", timeout=60000)  # an error (409, 503) would keep the dialog open
        except Exception:
            page.screenshot(path=str(tmp_path / "backfill-error.png"))
            raise AssertionError(f"the backfill dialog stayed open: {dialog.inner_text()[-500:]}") from None
        runs = wait_backfill_runs(stack, 2, {"2026-11-18", "2026-11-19"})
        assert {r["state"] for r in runs} == {"success"}
        page.goto(stack["api"] + f"/dags/{DAG}/runs")
        page.get_by_text("backfill", exact=False).first.wait_for(timeout=30000)
        page.screenshot(path=str(shots / "backfill-runs.png"))
        browser.close()
    assert {r["dag_run_id"] for r in runs} <= set(snapshots_by_run(stack))


def _listening_sockets() -> dict[int, str]:
    """inode -> "address:port" of every listening TCP socket (IPv4 and IPv6), from /proc/net."""
    found = {}
    for name, family in (("tcp", 4), ("tcp6", 6)):
        for line in Path(f"/proc/net/{name}").read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] != "0A":  # LISTEN
                continue
            address, port = fields[1].split(":")
            if family == 4:
                host = ".".join(str(int(address[i : i + 2], 16)) for i in (6, 4, 2, 0))
            else:
                host = (
                    "::1"
                    if address == "0" * 24 + "01000000"
                    else ("::" if set(address) == {"0"} else address)
                )
            found[int(fields[9])] = f"{host}:{int(port, 16)}"
    return found


def _stack_pids(home: Path) -> set[int]:
    import psutil

    pids = set()
    for pid_file in home.glob("*/*.pid"):
        try:
            process = psutil.Process(int(pid_file.read_text()))
        except (psutil.NoSuchProcess, ValueError):
            continue
        pids |= {process.pid, *(child.pid for child in process.children(recursive=True))}
    return pids


def test_every_socket_of_the_stack_is_on_loopback(stack):
    sockets = _listening_sockets()
    bound = []
    for pid in _stack_pids(stack["home"]):
        for fd in Path(f"/proc/{pid}/fd").glob("*"):
            try:
                target = os.readlink(fd)
            except OSError:
                continue
            if target.startswith("socket:[") and int(target[8:-1]) in sockets:
                bound.append(sockets[int(target[8:-1])])
    assert len(bound) >= 8, bound  # S3 and its gRPC twins, the simulator, the API server, ...
    assert all(addr.startswith(("127.0.0.1:", "::1:")) for addr in bound), bound


def test_secrets_never_reach_logs_xcom_reports_manifests_or_warc(stack):
    import gzip
    import sqlite3

    from pipelines.settings import Settings
    from pipelines.storage import Bucket

    config = Settings.from_env({}, env_file=stack["home"] / "s3.env").storage
    secrets = [config.secret_key.encode(), stack["password"].encode()]
    leaks = []
    for path in (stack["home"] / "airflow").rglob("*"):
        if path.is_file() and path.suffix in (".log", "") and "passwords" not in path.name:
            data = path.read_bytes()
            leaks += [str(path) for s in secrets if s in data]
    with sqlite3.connect(stack["home"] / "airflow" / "airflow.db") as db:
        for table in ("xcom", "task_instance", "dag_run", "log", "variable", "connection"):
            rows = db.execute(f"SELECT * FROM {table}").fetchall()
            leaks += [table for s in secrets if s in repr(rows).encode()]
    bucket = Bucket(config)
    objects = list(bucket.list(""))
    assert any(o["key"].startswith("warc/") for o in objects) and any(
        "report.json" in o["key"] for o in objects
    )
    for obj in objects:
        data = bucket.get(obj["key"])
        data = gzip.decompress(data) if obj["key"].endswith(".gz") else data
        leaks += [obj["key"] for s in secrets if s in data]
    assert leaks == []
