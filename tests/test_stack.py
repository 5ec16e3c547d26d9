"""The local stack as a user runs it: `infra.stack up --offline`, the REST API, the UI in a real browser, and its
supervision (kill -9 of a process while idle, status, down). One stack for the module: bringing it up is slow."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from infra.seaweedfs import free_port, free_port_block
from tests.stack_client import api, backfill_body, create_backfill, held_sockets, listening_sockets, token

if TYPE_CHECKING:
    from pipelines.documents import Manifest

REPO = Path(__file__).resolve().parent.parent
DAG = "insight_briefs_archive"
EXAMPLE = "insight_briefs_example_on_new_snapshot"
HEALTH = ("metadatabase", "scheduler", "triggerer", "dag_processor")
PROGRAMS = ("seaweedfs", "simulator", "api-server", "scheduler", "dag-processor", "triggerer")
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


@pytest.fixture(scope="module")
def stack(tmp_path_factory, request):
    home = tmp_path_factory.mktemp("stack")
    ports = {
        "BRIEFS_API_PORT": free_port(),
        "BRIEFS_S3_PORT": free_port_block() + 3,
        "BRIEFS_SIM_PORT": free_port(),
    }
    env = {**os.environ, "BRIEFS_STACK_DIR": str(home), **{k: str(v) for k, v in ports.items()}}
    env["BRIEFS_SIM_POSTS"] = (
        "120"  # the seeded days still edit, rename and remove briefs; seeding takes less
    )
    command = [sys.executable, "-m", "infra.stack"]
    # A stack from before the JWT secret was long enough for HS512: `up` must replace it.
    (home / "airflow").mkdir()
    (home / "airflow" / "secrets.json").write_text(json.dumps({"jwt": "s" * 43, "fernet": _fernet()}))
    up = subprocess.run(
        [*command, "up", "--offline"], env=env, cwd=REPO, capture_output=True, text=True, timeout=600
    )
    assert up.returncode == 0, up.stdout + up.stderr
    password = json.loads((home / "airflow" / "passwords.json").read_text())["admin"]
    assert password in up.stdout, "the generated admin password is shown on the first `up`"
    again = subprocess.run([*command, "up", "--offline"], env=env, cwd=REPO, capture_output=True, text=True)
    assert again.returncode == 0 and password not in again.stdout, again.stdout + again.stderr
    said = [line for line in again.stdout.splitlines() if line.startswith(tuple(PROGRAMS))]
    assert len(said) == len(PROGRAMS) and all("already running" in line for line in said), again.stdout
    yield {
        "home": home,
        "api": f"http://127.0.0.1:{ports['BRIEFS_API_PORT']}",
        "s3_port": ports["BRIEFS_S3_PORT"],
        "password": password,
        "env": env,
        "command": command,
    }
    subprocess.run([*command, "down"], env=env, cwd=REPO, capture_output=True, timeout=120)


def _fernet() -> str:
    from cryptography.fernet import Fernet

    return Fernet.generate_key().decode()


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


def _status(stack) -> tuple[int, dict[str, dict]]:
    """`python -m infra.stack status`: its exit code and, per process, state, pid, uptime and port."""
    done = subprocess.run(
        [*stack["command"], "status"], env=stack["env"], cwd=REPO, capture_output=True, text=True, timeout=60
    )
    rows = {}
    for line in done.stdout.splitlines()[1:]:
        name, state, pid, *rest = line.split()
        rows[name] = {"state": state, "pid": int(pid) if pid.isdigit() else None, "rest": rest}
    return done.returncode, rows


def _health(stack) -> dict:
    with urllib.request.urlopen(stack["api"] + "/api/v2/monitor/health", timeout=10) as reply:
        return json.loads(reply.read())


def test_status_lists_every_process_and_the_health_panel_is_green(stack):
    code, rows = _status(stack)
    assert code == 0, rows
    assert set(rows) == {"supervisord", *PROGRAMS}
    assert all(r["state"] == "RUNNING" and r["pid"] for r in rows.values()), rows
    ports = {name: r["rest"][-1] for name, r in rows.items()}
    assert ports["api-server"] == stack["api"].rsplit(":", 1)[1] and ports["seaweedfs"] == str(
        stack["s3_port"]
    )
    assert all(":" in r["rest"][0] for name, r in rows.items() if name != "supervisord"), (
        rows
    )  # uptime h:mm:ss
    health = _health(stack)
    assert {part: health[part]["status"] for part in HEALTH} == dict.fromkeys(HEALTH, "healthy"), health
    keys = json.loads((stack["home"] / "airflow" / "secrets.json").read_text())
    assert len(keys["jwt"]) >= 64, "the short JWT secret of an older stack was replaced"


def test_the_first_up_archives_a_few_days_of_history(stack):
    """The first hour: the offline stack starts with seeded days of news, so histories and diffs are real."""
    from pipelines.archive import Archive
    from pipelines.settings import Settings

    archive = Archive.from_settings(Settings.from_env({}, env_file=stack["home"] / "s3.env"))
    manifests = [archive.manifest(seq) for seq in archive.seqs()]
    seeded = [m for m in manifests if m.run_id.startswith("seed-")]
    assert len(seeded) >= 4, [m.run_id for m in manifests]
    assert sum(m.counts.changed for m in seeded) > 0, "a seeded day edited briefs"
    assert sum(m.counts.removed for m in seeded) > 0, "the last seeded reconcile recorded removals"


def test_api_needs_a_token_and_backfills_three_days(stack):
    wait_idle(stack)
    assert api(stack, "GET", "/api/v2/dags")[0] == 401
    assert api(stack, "POST", "/auth/token", {"username": "admin", "password": "wrong"})[0] == 401
    status, example = api(stack, "PATCH", f"/api/v2/dags/{EXAMPLE}", {"is_paused": False}, token=token(stack))
    assert status == 200 and example["is_paused"] is False, example
    status, backfill = create_backfill(
        stack,
        backfill_body(DAG, "2026-11-22", "2026-11-24", max_active_runs=1),
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
        for index, (day, clock) in enumerate([("2026/11/18", "00:00"), ("2026/11/18", "23:00")]):
            page.get_by_test_id("datetime-input").nth(index).click()
            picker = page.locator("[data-scope=popover][data-part=content][data-state=open]")
            picker.get_by_placeholder("YYYY/MM/DD").fill(day)
            picker.get_by_placeholder("HH:mm").fill(clock)
            dialog.get_by_text("Date Range").click()  # closes the picker
        dialog.get_by_text("1 run will be triggered").wait_for(timeout=10000)
        page.screenshot(path=str(shots / "backfill-dialog.png"))
        dialog.get_by_role("button", name="Run Backfill").click()
        try:
            dialog.wait_for(state="hidden", timeout=60000)  # an error (409, 503) would keep the dialog open
        except Exception:
            page.screenshot(path=str(tmp_path / "backfill-error.png"))
            raise AssertionError(f"the backfill dialog stayed open: {dialog.inner_text()[-500:]}") from None
        runs = wait_backfill_runs(stack, 1, {"2026-11-18"})
        assert {r["state"] for r in runs} == {"success"}
        page.goto(stack["api"] + f"/dags/{DAG}/runs")
        page.get_by_text("backfill", exact=False).first.wait_for(timeout=30000)
        page.screenshot(path=str(shots / "backfill-runs.png"))
        browser.close()
    assert {r["dag_run_id"] for r in runs} <= set(snapshots_by_run(stack))


def _stack_pids(home: Path) -> set[int]:
    """supervisord and every process under it."""
    import psutil

    try:
        daemon = psutil.Process(int((home / "supervisor" / "supervisord.pid").read_text()))
        return {daemon.pid, *(child.pid for child in daemon.children(recursive=True))}
    except (psutil.NoSuchProcess, OSError, ValueError):
        return set()


def _bound(pids: set[int]) -> list[str]:
    """The listening TCP sockets the processes hold."""
    return [address for address, _ in held_sockets(pids)]


def test_every_socket_of_the_stack_is_on_loopback(stack):
    bound = _bound(_stack_pids(stack["home"]))
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


def _back(stack, name: str, old_pid: int, killed: float, serving) -> float:
    """Seconds from the kill until `status` shows a new pid for `name` and `serving()` is true."""
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        _, rows = _status(stack)
        row = rows.get(name, {})
        if row.get("state") == "RUNNING" and row.get("pid") not in (None, old_pid):
            try:
                if serving():
                    return time.monotonic() - killed
            except (OSError, ValueError, KeyError):
                pass
        time.sleep(0.2)
    raise AssertionError(f"{name} did not come back: {_status(stack)}")


def test_killed_processes_come_back_and_a_triggered_run_succeeds(stack, capsys):
    from datetime import UTC, datetime

    from pipelines.settings import Settings
    from pipelines.storage import Bucket

    wait_idle(stack)
    bucket = Bucket(Settings.from_env({}, env_file=stack["home"] / "s3.env").storage)

    def scheduler_beats_since(moment: datetime):
        def check() -> bool:
            beat = _health(stack)["scheduler"]
            return datetime.fromisoformat(beat["latest_scheduler_heartbeat"]) > moment

        return check

    def api_serves() -> bool:
        return all(_health(stack)[part]["status"] == "healthy" for part in HEALTH)

    def s3_serves() -> bool:
        return any(True for _ in bucket.list("snapshots/"))

    times = {}
    for name, serving in (
        ("scheduler", None),
        ("api-server", api_serves),
        ("seaweedfs", s3_serves),
    ):
        old_pid = _status(stack)[1][name]["pid"]
        moment = datetime.now(UTC)
        killed = time.monotonic()
        os.kill(old_pid, 9)
        times[name] = _back(stack, name, old_pid, killed, serving or scheduler_beats_since(moment))
    with capsys.disabled():
        print(
            f"\nback after kill -9 (new pid, serving): {', '.join(f'{k} {v:.1f} s' for k, v in times.items())}"
        )
    # The issue's figure is 10 s; it is measured here and reported, not asserted: on a loaded CI machine the
    # api-server's import alone can take longer (`_back` asserts the new pid and that it serves).
    status, run = api(
        stack,
        "POST",
        f"/api/v2/dags/{DAG}/dagRuns",
        {"logical_date": datetime.now(UTC).isoformat(), "conf": {"max_items": 5}},
        token=token(stack),
    )
    assert status == 200, run
    deadline, state = time.monotonic() + 600, None
    while time.monotonic() < deadline and state not in ("success", "failed"):
        time.sleep(3)
        _, body = api(stack, "GET", f"/api/v2/dags/{DAG}/dagRuns/{run['dag_run_id']}", token=token(stack))
        state = body.get("state")
    assert state == "success", body
    assert run["dag_run_id"] in snapshots_by_run(stack), "the run after the restarts committed a snapshot"


def test_the_scheduler_signs_with_a_long_enough_key(stack):
    """PyJWT warns (InsecureKeyLengthWarning) when the scheduler signs a task's token with a key shorter than
    HS512 wants; tasks have run by now, with the key `up` replaced."""
    log = (stack["home"] / "logs" / "scheduler.log").read_text(errors="replace")
    assert "InsecureKeyLengthWarning" not in log
    assert "Sending TaskInstance" in log or "queued" in log.lower(), "tasks were scheduled (tokens signed)"


def test_down_stops_every_process_and_closes_every_port(stack, capsys):
    import psutil

    pids = _stack_pids(stack["home"])
    ports = {int(addr.rsplit(":", 1)[1]) for addr in _bound(pids)}
    assert len(pids) >= 7 and stack["s3_port"] in ports
    started = time.monotonic()
    done = subprocess.run(
        [*stack["command"], "down"], env=stack["env"], cwd=REPO, capture_output=True, text=True, timeout=120
    )
    seconds = time.monotonic() - started
    with capsys.disabled():
        print(f"\ndown: {seconds:.1f} s")
    assert done.returncode == 0, done.stdout + done.stderr
    alive = [p for p in pids if psutil.pid_exists(p) and psutil.Process(p).status() != psutil.STATUS_ZOMBIE]
    assert alive == [], [" ".join(psutil.Process(p).cmdline()) for p in alive]
    listening = {int(addr.rsplit(":", 1)[1]) for addr in listening_sockets().values()}
    assert ports.isdisjoint(listening), ports & listening
    code, rows = _status(stack)
    assert code == 1 and all(r["state"] != "RUNNING" for r in rows.values()), rows
