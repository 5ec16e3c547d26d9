"""The Airflow DAGs, run for real with ``dag.test()`` against the simulator and SeaweedFS."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime

import pytest

from pipelines.archive import Archive

HEAVY = ("scrapy", "trafilatura", "boto3", "botocore", "pyarrow", "lxml", "warcio", "twisted")


@pytest.fixture(scope="session")
def airflow_db():
    """A migrated SQLite metadata DB in the session's AIRFLOW_HOME."""
    subprocess.run([sys.executable, "-m", "airflow", "db", "migrate"], check=True, capture_output=True)
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=os.environ["AIRFLOW__CORE__DAGS_FOLDER"])
    assert not bag.import_errors
    return bag


@pytest.fixture
def site_env(sim, storage_env, monkeypatch):
    monkeypatch.setenv("BRIEFS_SITE", sim.base)
    return sim


DEFAULT_CONF = {
    "editions": "both",
    "force_refetch": False,
    "reclean_only": False,
    "reconcile": False,
    "max_items": None,
    "categories": None,
}


def run(bag, dag_id: str, day: int, **conf):
    """One DAG run whose data interval ends on 2026-11-`day` at 06:00 UTC (every param explicit: dag.test()
    keeps the previous run's conf on the shared DAG object)."""
    return bag.dags[dag_id].test(
        logical_date=datetime(2026, 11, day, 7, tzinfo=UTC), run_conf=DEFAULT_CONF | conf
    )


def test_dag_files_parse_light_and_offer_a_form(airflow_db):
    probe = (
        "import sys, time, json; import airflow.sdk; before = set(sys.modules); t = time.perf_counter(); "
        "import dags.archive_briefs; new = {m.split('.')[0] for m in set(sys.modules) - before}; "
        f"print(json.dumps({{'s': time.perf_counter() - t, 'heavy': [m for m in {HEAVY!r} if m in new]}}))"
    )
    result = json.loads(
        subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    )
    assert result["heavy"] == [], "DAG files must not import the pipeline's heavy libraries at parse time"
    dag = airflow_db.dags["insight_briefs_archive"]
    assert dag.max_active_runs == 1 and dag.catchup is False
    schema = {name: param.schema for name, param in dag.params.items()}
    assert schema["editions"]["enum"] == ["both", "en", "es"], "the profile's editions"
    assert schema["categories"]["type"] == ["null", "string"] and schema["categories"]["pattern"]
    assert schema["max_items"]["minimum"] == 1 and schema["reclean_only"]["type"] == "boolean"
    assert all(param.schema.get("title") and param.description for param in dag.params.values())
    assert {t.task_id: t.pool for t in dag.tasks}["commit"] == "briefs_commit"
    assert set(airflow_db.dags) == {
        "insight_briefs_archive",
        "insight_briefs_reconcile",
        "insight_briefs_example_on_new_snapshot",
        "insight_briefs_maintenance",
    }
    tasks = {t.task_id: t for t in dag.tasks}
    assert set(tasks) == {
        "crawl",
        "clean",
        "commit",
        "verify",
        "report",
        "tidy_staging",
        "publish_table",
        "report_changes",
        "package_captures",
    }
    assert tasks["report"].trigger_rule == "all_done", "a failed run has a summary too"
    assert tasks["tidy_staging"].upstream_task_ids == {"commit", "verify", "report"}
    assert not tasks["tidy_staging"].downstream_task_ids, "a leaf: a failed verify fails the run"
    maintenance = airflow_db.dags["insight_briefs_maintenance"]
    assert maintenance.catchup is False and maintenance.timetable.expression == "0 0 * * 0"
    assert {t.task_id for t in maintenance.tasks} == {"verify_recent", "collect_garbage", "maintain_table"}
    alerting = ("insight_briefs_archive", "insight_briefs_reconcile", "insight_briefs_maintenance")
    assert all(t.on_failure_callback for d in alerting for t in airflow_db.dags[d].tasks)


def test_nightly_runs_archive_their_window_then_only_changes(airflow_db, site_env, bucket):
    sim = site_env
    first = run(airflow_db, "insight_briefs_archive", 20)
    assert first.state == "success"
    start, end = datetime(2026, 11, 19, 5, tzinfo=UTC), datetime(2026, 11, 20, 6, tzinfo=UTC)  # 1 h overlap
    window = {p.id for p in sim.site.live() if start <= p.published < end or start <= p.modified < end}
    archive = Archive(bucket)
    assert {int(i) for i in archive.index()} == window
    assert run(airflow_db, "insight_briefs_reconcile", 20).state == "success"  # archive everything once
    change = sim.site.advance(hours=24, new=5, edited=2, renamed=1, removed=1)
    nightly = run(airflow_db, "insight_briefs_archive", 21)
    assert nightly.state == "success"
    counts = archive.manifest().counts
    assert (counts.new, counts.changed, counts.aliased, counts.superseded) == (5, 2, 1, 0)
    assert set(archive.manifest().changes.new) == {str(i) for i in change.new}
    assert archive.manifest().warc, "the staged path lists the run's WARC files"
    assert run(airflow_db, "insight_briefs_reconcile", 21).state == "success"
    assert archive.manifest().changes.removed == [str(change.removed[0])]
    assert archive.manifest().counts.gone == 1 and archive.manifest().counts.removed == 1
    location = f"s3://{bucket.config.bucket}/{bucket.config.prefix}"
    staged = f"runs/insight_briefs_archive/{_safe(nightly.run_id)}/"
    assert bucket.get_json(f"{staged}report.json")["commit"]["snapshot"] == 3
    assert [o["key"] for o in bucket.list(staged)] == [f"{staged}report.json"], (
        "a verified run's staging is tidied; its report stays until gc"
    )
    summary = next(e.extra for e in run_summaries(location) if e.extra["run_id"] == nightly.run_id)
    assert (summary["snapshot"], summary["new"], summary["changed"], summary["aliased"]) == (3, 5, 2, 1)
    assert summary["quality"] == "passed" and summary["fetched"] >= 8 and summary["bytes_written"] > 0
    assert summary["discovered"] >= summary["fetched"] and summary["failed_by_reason"] == {}
    tidy = next(ti for ti in nightly.get_task_instances() if ti.task_id == "tidy_staging")
    assert tidy.state == "success" and tidy.xcom_pull(task_ids="tidy_staging")["verified"] is True
    events = snapshot_events(location)
    assert [e.extra["seq"] for e in events] == [1, 2, 3, 4], "one Asset event per committed snapshot"
    third = events[2]
    assert (third.source_dag_id, third.source_run_id) == ("insight_briefs_archive", nightly.run_id)
    assert third.extra["changes"] == {"new": 5, "changed": 2, "removed": 0, "aliased": 1, "superseded": 0}
    assert events[3].extra["changes"]["removed"] == 1 and events[3].extra["gone"] == 1
    assert "secret" not in json.dumps([e.extra for e in events]).lower()


def snapshot_events(location: str, what: str = "snapshots") -> list:
    """The Asset events of one archive's snapshot log, oldest first (the metadata DB is the session's)."""
    from airflow.models.asset import AssetEvent, AssetModel
    from airflow.utils.session import create_session

    with create_session() as session:
        rows = (
            session.query(AssetEvent)
            .join(AssetModel, AssetEvent.asset_id == AssetModel.id)
            .filter(AssetModel.uri == f"{location}/{what}")
            .order_by(AssetEvent.id)
            .all()
        )
        for row in rows:
            session.expunge(row)
    return rows


def run_summaries(location: str) -> list:
    """The run summaries the report task posted on ``insight_briefs_runs``, oldest first."""
    return snapshot_events(location, "runs")


def test_the_example_dag_is_scheduled_on_new_snapshots_and_paused(airflow_db):
    archive = airflow_db.dags["insight_briefs_archive"]
    example = airflow_db.dags["insight_briefs_example_on_new_snapshot"]
    (outlet,) = next(t for t in archive.tasks if t.task_id == "commit").outlets
    assert example.is_paused_upon_creation is True
    assert [a.name for a in example.timetable.asset_condition.objects] == [outlet.name]


def _safe(run_id: str) -> str:
    import re

    return re.sub(r"[^A-Za-z0-9._=-]+", "-", run_id).strip("-")


def test_reclean_only_fetches_nothing(airflow_db, site_env, bucket):
    sim = site_env
    assert run(airflow_db, "insight_briefs_archive", 20).state == "success"
    before = len(sim.hits())
    again = run(airflow_db, "insight_briefs_archive", 20, reclean_only=True)
    assert again.state == "success"
    assert len(sim.hits()) == before, "re-cleaning reads the archived WARC records, not the site"
    manifest = Archive(bucket).manifest()
    assert manifest.seq == 2 and manifest.counts.unchanged == manifest.counts.live > 0
    assert manifest.counts.new == manifest.counts.changed == 0, "same extractor, same versions"


def test_a_failed_commit_is_retried_and_the_snapshot_appears_once(
    airflow_db, site_env, bucket, tmp_path, monkeypatch
):
    monkeypatch.setenv("BRIEFS_CHAOS", "fail-once:snapshots/")
    monkeypatch.setenv("BRIEFS_CHAOS_STATE", str(tmp_path / "fired"))
    dagrun = run(airflow_db, "insight_briefs_archive", 20)
    assert dagrun.state == "success"
    assert (tmp_path / "fired").exists(), "the fault did fire"
    commit = next(ti for ti in dagrun.get_task_instances() if ti.task_id == "commit")
    crawl = next(ti for ti in dagrun.get_task_instances() if ti.task_id == "crawl")
    assert commit.try_number == 2 and crawl.try_number == 1, "only the commit was retried, nothing re-crawled"
    assert Archive(bucket).seqs() == [1]
    events = snapshot_events(f"s3://{bucket.config.bucket}/{bucket.config.prefix}")
    assert [e.extra["seq"] for e in events] == [1], "the retry announces the snapshot, once"


def test_quality_gate_fails_a_run_on_a_changed_layout(airflow_db, site_env, bucket):
    sim = site_env
    assert run(airflow_db, "insight_briefs_reconcile", 20).state == "success"
    good = Archive(bucket).index()
    sim.inject(r"^/(news|es/noticias)/", "empty_body_layout")
    for post in sim.site.live()[-6:]:
        post.revision += 1  # edited everywhere, so every page is fetched again: in the new layout
        post.modified = datetime(2026, 11, 20, 12, tzinfo=UTC)
    failed = run(airflow_db, "insight_briefs_archive", 21)
    assert failed.state == "failed"
    states = {ti.task_id: ti.state for ti in failed.get_task_instances()}
    assert states["verify"] == "failed" and states["commit"] == "success"
    assert states["report"] == "success" and states["tidy_staging"] == "upstream_failed"
    summary = run_summaries(f"s3://{bucket.config.bucket}/{bucket.config.prefix}")[-1].extra
    assert summary["run_id"] == failed.run_id and summary["quality"].startswith("failed: ")
    assert "empty_body" in summary["quality"] and summary["rejected_empty"] >= 6
    staged = {
        o["key"].rsplit("/", 1)[-1]
        for o in bucket.list(f"runs/insight_briefs_archive/{_safe(failed.run_id)}/")
    }
    assert {"cleaned.jsonl.gz", "records.jsonl", "report.json"} <= staged, (
        "a failed run's staging waits for gc"
    )
    archive = Archive(bucket)
    assert archive.manifest().counts.rejected_empty >= 6
    assert all(archive.index()[k].key == good[k].key for k in good), (
        "no good version replaced by an empty one"
    )


def test_the_category_override_is_a_dag_param(airflow_db, site_env, bucket):
    from pipelines.commit import read_head

    sim = site_env
    analysis = [sim.site.posts[i] for i in sim.site.briefs_in("analysis")]
    # A day whose data interval [day-1 06:00, day 06:00) holds an analysis brief.
    day = next(
        d
        for d in range(2, 21)
        if any(
            datetime(2026, 11, d - 1, 6, tzinfo=UTC) <= p.published < datetime(2026, 11, d, 6, tzinfo=UTC)
            for p in analysis
        )
    )
    dagrun = run(airflow_db, "insight_briefs_archive", day, editions="en", categories="analysis")
    assert dagrun.state == "success"
    archived = [e.post_id for e in read_head(bucket).index.values()]
    assert archived and all(sim.site.posts[i].category == "analysis" for i in archived)


def test_quality_gate_fails_a_run_whose_discovery_broke(airflow_db, site_env, bucket):
    """A refused REST API still archives the day through the fallbacks, but the run fails and says where."""
    sim = site_env
    sim.api_status = 403
    failed = run(airflow_db, "insight_briefs_archive", 20)
    states = {ti.task_id: ti.state for ti in failed.get_task_instances()}
    assert states["commit"] == "success" and states["verify"] == "failed"
    assert Archive(bucket).manifest().counts.new > 0, "the fallbacks archived the window"
    crawl = Archive(bucket).manifest().run["crawl"]
    assert crawl["surfaces"]["en"]["rest"] == {
        "status": "failed",
        "reason": "HTTP 403 after retries",
        "found": 0,
    }
    assert crawl["surfaces"]["es"]["rss"]["status"] == "ok"
    sim.api_status = None
    sim.site.advance(hours=24, new=5, edited=2, renamed=0, removed=0)
    again = run(airflow_db, "insight_briefs_archive", 21)
    assert again.state == "success", "the next run skips the known-failing REST API until the weekly probe"
    assert Archive(bucket).manifest().run["crawl"]["surfaces"]["en"]["rest"]["status"] == "skipped"
