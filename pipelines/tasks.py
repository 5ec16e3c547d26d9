"""What the Airflow tasks do (``dags/archive_briefs.py`` only wires them).

Module-level imports stay light so that DAG files parse fast; each task imports the heavy stages it needs. Every
task reads its inputs from the bucket's run-scoped staging, so any one of them can be retried alone.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

from pipelines.settings import Settings

log = logging.getLogger("insight_briefs.tasks")


def task_settings() -> Settings:
    """This task's settings (connection ``briefs_s3``, Variables ``briefs_*``, environment; see
    ``pipelines.settings``), read once per task call so that a changed Variable applies to the next task."""
    settings = Settings.for_airflow_task()
    if settings.local_stack:
        log.warning("no storage configured: using the local stack's (%s)", settings.source)
    return settings


def _bucket(settings: Settings):
    from pipelines.storage import Bucket

    return Bucket(settings.storage)


def run_name(context: dict) -> str:
    """A key-safe, unique name for this DAG run: ``{dag_id}/{run_id}``."""
    safe = re.sub(r"[^A-Za-z0-9._=-]+", "-", context["run_id"]).strip("-")
    return f"{context['dag'].dag_id}/{safe}"


def _interval(context: dict) -> tuple[datetime, datetime]:
    start, end = context.get("data_interval_start"), context.get("data_interval_end")
    if start is None or end is None:  # a manual run without a data interval: the last day
        end = context.get("logical_date") or datetime.now(UTC)
        start = end - timedelta(days=1)
    return start, end


def crawl(context: dict, reconcile_dag: bool = False) -> dict:
    """Crawl this run's window (published or modified in it, plus an overlap), or every post for a reconcile."""
    from pipelines.run import stage_crawl
    from spiders.runner import CrawlJob

    params, started = context["params"], time.time()
    if params.get("reclean_only"):
        return {"skipped": "reclean_only", "started_at": started}
    settings = task_settings()
    start, end = _interval(context)
    overlap = timedelta(minutes=settings.overlap_minutes)
    editions = {"both": "all"}.get(params.get("editions", "both"), params.get("editions"))
    reconcile = reconcile_dag or params.get("reconcile")
    job = CrawlJob(
        out=Path("."),
        mode="reconcile" if reconcile else "window",
        profile=settings.profile,
        site=settings.site,
        editions=editions,
        after=None if reconcile else (start - overlap).isoformat(),
        before=None if reconcile else end.isoformat(),
        include_modified=True,
        force_refetch=bool(params.get("force_refetch")),
        categories=params.get("categories") or None,
        max_items=params.get("max_items"),
        polite=settings.polite,
    )
    with tempfile.TemporaryDirectory(prefix="briefs-crawl-") as tmp:
        job.out = Path(tmp) / "crawl"
        stats = stage_crawl(_bucket(settings), run_name(context), job, log)
    keep = (
        "mode",
        "discovered",
        "discovery_requests",
        "fetch",
        "candidates",
        "candidates_by_edition",
        "surfaces",
        "warc_responses",
    )
    return {"started_at": started, **{k: stats[k] for k in keep}}


@contextlib.contextmanager
def _staging_of(bucket, run: str) -> Iterator[None]:
    """A task cleared on a run whose staging was tidied (its snapshot verified) fails once, saying what to do,
    instead of retrying on a missing key."""
    from airflow.sdk.exceptions import AirflowFailException

    from pipelines import layout
    from pipelines.storage import MissingObject

    try:
        yield
    except MissingObject as missing:
        staged = layout.run_key(run, "")
        if staged in str(missing) and any(True for _ in bucket.list(layout.receipts_prefix(run))):
            raise AirflowFailException(
                f"the staging of run {run} was removed after its snapshot verified ({missing}): clear the run's "
                "crawl task and everything after it to run it again"
            ) from None
        raise


def clean(context: dict) -> dict:
    """Clean the staged crawl; the stats count failed observations by reason for the run summary."""
    from pipelines.run import stage_clean, stage_reclean
    from pipelines.summary import failures_by_reason

    settings = task_settings()
    bucket, name, params = _bucket(settings), run_name(context), context["params"]
    with tempfile.TemporaryDirectory(prefix="briefs-clean-") as tmp:
        if params.get("reclean_only"):
            stats = stage_reclean(bucket, name, Path(tmp), settings.site_profile, params.get("max_items"))
        else:
            with _staging_of(bucket, name):
                stats = stage_clean(bucket, name, Path(tmp), settings.site_profile)
        return {**stats, "failed_by_reason": failures_by_reason(Path(tmp) / "cleaned.jsonl.gz")}


def commit(context: dict, crawl_stats: dict, clean_stats: dict) -> dict:
    """Commit the run's snapshot and announce it on the snapshot log Asset (recorded when the task succeeds)."""
    from pipelines import assets
    from pipelines.documents import to_builtins
    from pipelines.run import stage_commit

    settings = task_settings()  # one read: it asks Airflow for the connection and Variables
    start, end = _interval(context)
    run_info = {
        "dag_id": context["dag"].dag_id,
        "run_id": context["run_id"],
        "mode": crawl_stats.get("mode"),
        "site": settings.site,  # the origin crawled: a staging mirror is not the live site
        "window": [start.isoformat(), end.isoformat()],
        "params": dict(context["params"]),
        "crawl": crawl_stats,
        "clean": clean_stats,
    }
    bucket = _bucket(settings)
    with tempfile.TemporaryDirectory(prefix="briefs-commit-") as tmp, _staging_of(bucket, run_name(context)):
        result = stage_commit(bucket, run_name(context), Path(tmp), run_info, settings.site_profile)
    stats = {
        "snapshot": result.seq,
        "created": result.created,
        "outcome": result.outcome,
        "counts": to_builtins(result.manifest.counts),
        "versions_written": result.versions_written,
        "bytes_written": result.bytes_written,
    }
    retry = getattr(context.get("task_instance"), "try_number", 1) > 1
    if result.outcome == "created" or (result.outcome == "found" and retry):  # a failed try's commit, found
        extra = assets.snapshot_extra(stats, settings.storage.uri())
        assets.emit(context, assets.SNAPSHOTS, settings.storage, extra)
    return stats


# ---- derived products: each its own task, after the commit; a failure retries alone and never alters a snapshot
def publish_table(context: dict, commit_stats: dict) -> dict:
    """Append the snapshots the versions table lacks (up to this run's), one Delta commit each."""
    from pipelines import assets
    from pipelines.delta import publish

    settings = task_settings()
    published = publish(_bucket(settings), upto=commit_stats["snapshot"])
    summary = {"uri": published.uri, "snapshots": published.snapshots, "rows": published.rows}
    if published.snapshots:
        extra = {**summary, "table_version": published.table_version, "upto": published.upto}
        assets.emit(context, assets.VERSIONS, settings.storage, extra)
    return summary


def report_changes(context: dict, commit_stats: dict) -> dict:
    """``reports/{seq}.html`` and ``.json``: what changed in this run's snapshot, word by word."""
    from pipelines.changes import publish_report

    return publish_report(_bucket(task_settings()), commit_stats["snapshot"])


def package_captures(context: dict, commit_stats: dict) -> dict:
    """The run's WARC files as a WACZ (CDXJ index, pages, digests) beside them, for replay."""
    from pipelines.replay import package_run

    with tempfile.TemporaryDirectory(prefix="briefs-wacz-") as tmp:
        key = package_run(_bucket(task_settings()), commit_stats["snapshot"], work_dir=Path(tmp))
    return {"wacz": key}


def snapshot_events(context: dict) -> list[dict]:
    """The snapshot events that triggered this run (a run started by hand: none), one summary line each."""
    extras = [
        dict(event.extra or {})
        for events in (context.get("triggering_asset_events") or {}).values()
        for event in events
        if "seq" in (event.extra or {})
    ]
    for extra in extras:
        log.info(
            "snapshot %s at %s: %s", extra.get("seq"), extra.get("location"), json.dumps(extra.get("changes"))
        )
    if not extras:
        log.info("started by hand: no snapshot event triggered this run")
    return extras


def verify(context: dict, crawl_stats: dict, clean_stats: dict, commit_stats: dict) -> dict:
    """The snapshot just committed must verify (chain, index, the versions it added, packs, WARC files), and the
    run's output must pass the quality gate."""
    from airflow.sdk.exceptions import AirflowFailException

    from pipelines import quality
    from pipelines.verify import verify as check_integrity

    settings = task_settings()
    bucket = _bucket(settings)
    ti = context["task_instance"]
    integrity = check_integrity(bucket, at=commit_stats.get("snapshot"))
    for problem in integrity.problems:
        log.error("integrity: %s", problem)
    if not integrity.ok:
        problem = f"snapshot {commit_stats.get('snapshot')} does not verify: {integrity.summary()}"
        ti.xcom_push("verdict", {"passed": False, "problems": [problem]})  # for the run summary
        raise AirflowFailException(problem)
    start, end = _interval(context)
    past = quality.history(bucket, commit_stats.get("snapshot"), crawl_stats.get("mode"), end - start)
    problems = quality.quality_problems(
        crawl_stats, clean_stats, commit_stats, past.mean_chars, settings.quality
    )
    problems += quality.discovery_problems(crawl_stats, past.candidates, settings.quality)
    for problem in problems:
        log.error("quality gate: %s", problem)
    verdict = {"passed": not problems, "problems": problems, "integrity": integrity.summary()}
    ti.xcom_push("verdict", verdict)
    if problems:
        raise AirflowFailException("quality gate failed: " + "; ".join(problems))
    return {**verdict, "recent_mean_chars": past.mean_chars}


def report(context: dict) -> dict:
    """The run's summary, whatever became of the run (trigger rule ``all_done``): an Asset event on
    ``insight_briefs_runs`` (the UI), ``runs/{run}/report.json``, the metrics, and the webhook if success
    summaries are on. Reads its inputs from XCom, any of which may be missing when a task failed."""
    from pipelines import alerts, layout, metrics, summary
    from pipelines.clean import extractor

    ti = context["task_instance"]
    crawl_stats, clean_stats, commit_stats = (ti.xcom_pull(task_ids=t) for t in ("crawl", "clean", "commit"))
    verdict = ti.xcom_pull(task_ids="verify", key="verdict")
    settings = task_settings()
    started = (crawl_stats or {}).get("started_at")
    run = {
        "dag_id": context["dag"].dag_id,
        "run_id": context["run_id"],
        "window": [str(v) for v in _interval(context)],
        "mode": (crawl_stats or {}).get("mode"),
        "duration_s": round(time.time() - started, 1) if started else None,
    }
    flat = summary.build(run, crawl_stats, clean_stats, commit_stats, verdict)
    log.info("run summary: %s", json.dumps(flat, sort_keys=True))
    detail = {
        **flat,
        "crawl": crawl_stats,
        "clean": clean_stats,
        "commit": commit_stats,
        "verify": verdict,
        "extractor": extractor(settings.site_profile),
        "reported_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    from pipelines.storage import StorageError

    try:
        _bucket(settings).put_json(layout.run_key(run_name(context), "report.json"), detail)
    except (StorageError, OSError) as exc:  # the storage may be what failed this run; the UI still gets it
        log.warning("could not write report.json: %s", exc)
    summary.emit(context, settings.storage.uri(), flat)
    metrics.emit(metrics.counters(flat))
    if flat["quality"] == "passed":
        alerts.on_summary(flat)
    return flat


def tidy_staging(context: dict, commit_stats: dict) -> dict:
    """After a verified snapshot: check it against the run's staging, then delete the staging. Never fails the
    run: a mismatch or a failed delete is a warning and leaves the staging to ``briefs gc``."""
    from pipelines.housekeeping import tidy_staging as tidy

    result = tidy(_bucket(task_settings()), run_name(context), commit_stats)
    for warning in result.warnings:
        log.warning("tidy: %s", warning)
    log.info("tidy: deleted %d staged objects of %s", len(result.deleted), result.run_id)
    return result.summary()
