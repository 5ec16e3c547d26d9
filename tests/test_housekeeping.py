"""Housekeeping against a real SeaweedFS: tidying a verified run's staging, gc of run staging as a whole, and the
weekly maintenance DAG run with ``dag.test()``."""

from __future__ import annotations

import gzip
import logging
import time
from datetime import timedelta

import pytest
from test_dag import airflow_db  # noqa: F401 (fixture)

from infra.simulator import Simulator, Site
from pipelines import gc, layout
from pipelines.housekeeping import tidy_staging
from pipelines.run import run_once
from spiders.runner import CrawlJob


@pytest.fixture
def archive(bucket, tmp_path):
    """run(run_id) does one real crawl -> clean -> commit of the simulated site's English briefs."""
    with Simulator(Site(posts=40)) as sim:

        def run(run_id: str, mode: str = "reconcile") -> dict:
            job = CrawlJob(out=tmp_path, site=sim.base, polite=False, mode=mode, editions="en")
            workdir = tmp_path / run_id.replace("/", "_")
            return run_once(bucket, run_id, job, workdir, logging.getLogger("test"))

        yield run


def staged(bucket, run_id: str) -> set[str]:
    prefix = layout.run_key(run_id, "")
    return {o["key"][len(prefix) :] for o in bucket.list(prefix)}


def test_a_verified_run_loses_its_staging_but_its_report(bucket, archive):
    result = archive("dag/run-1")
    bucket.put_json(layout.run_key("dag/run-1", "report.json"), {"snapshot": 1})
    assert {"cleaned.jsonl.gz", "crawl/records.jsonl", "crawl/state.jsonl"} <= staged(bucket, "dag/run-1")
    tidy = tidy_staging(bucket, "dag/run-1", {"snapshot": result["snapshot"], "outcome": "created"})
    assert tidy.verified and not tidy.warnings
    assert staged(bucket, "dag/run-1") == {"report.json"}
    assert any(o["key"].startswith("warc/dag/run-1/") for o in bucket.list("warc/")), "WARC files are archive"
    again = tidy_staging(bucket, "dag/run-1", {"snapshot": 1, "outcome": "created"})
    assert not again.deleted and again.warnings, "nothing left to verify: a warning, not a failure"


def test_staging_that_is_not_the_snapshots_input_is_kept(bucket, archive):
    archive("dag/run-2")
    key = layout.run_key("dag/run-2", "cleaned.jsonl.gz")
    lines = gzip.decompress(bucket.get(key)).splitlines()
    bucket.put(key, gzip.compress(b"\n".join(lines[:-1]) + b"\n"))  # one record fewer than was committed
    before = staged(bucket, "dag/run-2")
    tidy = tidy_staging(bucket, "dag/run-2", {"snapshot": 1, "outcome": "created"})
    assert not tidy.verified and "not the input snapshot 1 was committed from" in tidy.warnings[0]
    assert staged(bucket, "dag/run-2") == before
    other = tidy_staging(bucket, "dag/run-2", {"snapshot": 1, "outcome": "unchanged"})
    assert not other.verified, "a reprocess that changed nothing still staged other input: kept for gc"
    assert staged(bucket, "dag/run-2") == before
    bucket.put(key, gzip.compress(b"\n".join(lines) + b"\n"))  # what snapshot 1 was committed from
    same = tidy_staging(bucket, "dag/run-2", {"snapshot": 1, "outcome": "unchanged"})
    assert same.verified and same.deleted, "a reprocess that changed nothing, from the same input: tidied"
    wrong = tidy_staging(bucket, "dag/run-3", {"snapshot": 1, "outcome": "created"})
    assert not wrong.verified and not wrong.deleted


def _age(bucket, key: str):
    return bucket.head(key)["last_modified"]


def test_gc_judges_a_runs_staging_as_a_whole(bucket, archive):
    """An uncommitted run whose newest object is younger than the grace keeps all its staging, however old its
    first objects are; once it is quiet for the grace, all of it goes. (S3 times have one-second resolution.)"""
    archive("dag/committed")
    old = layout.run_key("dag/abandoned", "crawl/records.jsonl")
    bucket.put(old, b"{}\n")
    time.sleep(1.2)
    new = layout.run_key("dag/abandoned", "cleaned.jsonl.gz")
    bucket.put(new, gzip.compress(b""))
    grace = timedelta(seconds=1)
    assert _age(bucket, new) - _age(bucket, old) >= grace
    during = gc.collect(bucket, grace, now=_age(bucket, new) + grace / 2)
    assert old not in {c.key for c in during.candidates}, "a running or retried run keeps all of its staging"
    quiet = gc.collect(bucket, grace, now=_age(bucket, new) + grace)
    reasons = {c.key: c.why for c in quiet.candidates}
    assert reasons[old] == reasons[new] == "staging of a run that never committed"
    assert reasons[layout.run_key("dag/committed", "cleaned.jsonl.gz")] == "staging of a committed run"
    assert gc.run_of(old) == gc.run_of(new) == "dag/abandoned"
    assert not any(k.startswith(("snapshots/", "indexes/", "packs/", "articles/")) for k in reasons)
    committed_at = _age(bucket, layout.snapshot_key(1))
    young_snapshot = gc.collect(bucket, timedelta(hours=1), now=committed_at + timedelta(minutes=30))
    assert not young_snapshot.candidates


def test_gc_apply_spares_a_run_that_wrote_again_since_it_was_listed(bucket, archive):
    """A run cleared while gc listed (its staging old then) writes under its prefix: `apply` reads the run's
    ages again just before deleting and keeps all of it; a run still quiet goes."""
    stale = layout.run_key("dag/cleared", "crawl/records.jsonl")
    quiet = layout.run_key("dag/abandoned", "crawl/records.jsonl")
    bucket.put(stale, b"{}\n")
    bucket.put(quiet, b"{}\n")
    time.sleep(2.2)
    grace = timedelta(seconds=2)
    found = gc.collect(bucket, grace)
    assert {stale, quiet} <= {c.key for c in found.candidates}
    bucket.put(
        layout.run_key("dag/cleared", "cleaned.jsonl.gz"), gzip.compress(b"")
    )  # the cleared run's clean
    deleted = set(gc.apply(bucket, found, grace))
    assert quiet in deleted and not bucket.exists(quiet)
    assert stale not in deleted and bucket.exists(stale), "the run wrote again: none of its staging goes"


def maintenance(bag):
    from datetime import UTC, datetime

    return bag.dags["insight_briefs_maintenance"].test(logical_date=datetime(2026, 11, 22, tzinfo=UTC))


def test_the_weekly_maintenance_verifies_collects_and_checkpoints(
    airflow_db,  # noqa: F811
    storage_env,
    bucket,
    archive,
    monkeypatch,
):
    from deltalake import DeltaTable

    from pipelines.delta import VersionsTable, publish

    archive("dag/one")
    publish(bucket)
    archive("dag/two", mode="nightly")
    publish(bucket)
    bucket.put(layout.run_key("dag/abandoned", "crawl/records.jsonl"), b"{}\n")
    orphan = "articles/999999/v00001-0000000000000000.json.gz"
    bucket.put(orphan, b"orphan")
    monkeypatch.setenv("BRIEFS_GC_GRACE", "0")
    dagrun = maintenance(airflow_db)
    assert dagrun.state == "success"
    results = {ti.task_id: ti.xcom_pull(task_ids=ti.task_id) for ti in dagrun.get_task_instances()}
    assert results["verify_recent"]["verified"] == [1, 2]
    assert results["collect_garbage"]["deleted"] >= 2
    assert not bucket.exists(orphan) and not staged(bucket, "dag/abandoned")
    assert [s for s in range(1, 3) if bucket.exists(layout.snapshot_key(s))] == [1, 2]
    table = results["maintain_table"]
    assert table["exists"] and table["delta.enableExpiredLogCleanup"] == "false"
    logs = {o["key"].rsplit("/", 1)[-1] for o in bucket.list("tables/versions/_delta_log/")}
    assert f"{table['checkpoint']:020d}.checkpoint.parquet" in logs
    versions = VersionsTable(bucket)
    assert (
        DeltaTable(versions.uri, storage_options=versions.options, version=1).to_pyarrow_table().num_rows > 0
    )
    assert publish(bucket).snapshots == [], "publishing goes on after the table's maintenance"


def test_maintenance_on_a_damaged_archive_fails_and_deletes_nothing(
    airflow_db,  # noqa: F811
    storage_env,
    bucket,
    archive,
    monkeypatch,
):
    archive("dag/one")
    manifest = gc.references(bucket).manifests[1]
    bucket.delete(manifest.packs[0])  # a version pack is gone: snapshot 1 no longer verifies
    bucket.put(layout.run_key("dag/abandoned", "crawl/records.jsonl"), b"{}\n")
    before = {o["key"] for o in bucket.list("")}
    monkeypatch.setenv("BRIEFS_GC_GRACE", "0")
    dagrun = maintenance(airflow_db)
    states = {ti.task_id: ti.state for ti in dagrun.get_task_instances()}
    assert dagrun.state == "failed"
    assert states["verify_recent"] == "failed" and states["collect_garbage"] == "upstream_failed"
    assert {o["key"] for o in bucket.list("")} == before


def test_a_task_cleared_after_tidying_fails_once_and_says_what_to_clear(bucket, archive, tmp_path):
    from airflow.sdk.exceptions import AirflowFailException

    from pipelines.run import stage_commit
    from pipelines.storage import MissingObject
    from pipelines.tasks import _staging_of

    archive("dag/tidied")
    assert tidy_staging(bucket, "dag/tidied", {"snapshot": 1, "outcome": "created"}).verified
    with (
        pytest.raises(AirflowFailException, match="clear the run's crawl task"),
        _staging_of(bucket, "dag/tidied"),
    ):
        stage_commit(bucket, "dag/tidied", tmp_path / "again", {}, None)
    with pytest.raises(MissingObject), _staging_of(bucket, "dag/never-committed"):
        stage_commit(bucket, "dag/never-committed", tmp_path / "never", {}, None)
