"""What the Airflow tasks do (``dags/archive_briefs.py`` only wires them).

Module-level imports stay light so that DAG files parse fast; each task imports the heavy stages it needs. Every
task reads its inputs from the bucket's run-scoped staging, so any one of them can be retried alone.
"""

from __future__ import annotations

import json
import logging
import re
import tempfile
import time
import urllib.request
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


def clean(context: dict) -> dict:
    from pipelines.run import stage_clean, stage_reclean

    settings = task_settings()
    bucket, name, params = _bucket(settings), run_name(context), context["params"]
    with tempfile.TemporaryDirectory(prefix="briefs-clean-") as tmp:
        if params.get("reclean_only"):
            return stage_reclean(bucket, name, Path(tmp), settings.site_profile, params.get("max_items"))
        return stage_clean(bucket, name, Path(tmp), settings.site_profile)


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
    with tempfile.TemporaryDirectory(prefix="briefs-commit-") as tmp:
        result = stage_commit(
            _bucket(settings), run_name(context), Path(tmp), run_info, settings.site_profile
        )
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
    integrity = check_integrity(bucket, at=commit_stats.get("snapshot"))
    for problem in integrity.problems:
        log.error("integrity: %s", problem)
    if not integrity.ok:
        raise AirflowFailException(
            f"snapshot {commit_stats.get('snapshot')} does not verify: {integrity.summary()}"
        )
    start, end = _interval(context)
    past = quality.history(bucket, commit_stats.get("snapshot"), crawl_stats.get("mode"), end - start)
    problems = quality.quality_problems(
        crawl_stats, clean_stats, commit_stats, past.mean_chars, settings.quality
    )
    problems += quality.discovery_problems(crawl_stats, past.candidates, settings.quality)
    for problem in problems:
        log.error("quality gate: %s", problem)
    if problems:
        raise AirflowFailException("quality gate failed: " + "; ".join(problems))
    return {"passed": True, "integrity": integrity.summary(), "recent_mean_chars": past.mean_chars}


def report(context: dict, crawl_stats: dict, clean_stats: dict, commit_stats: dict) -> dict:
    from pipelines import layout
    from pipelines.clean import extractor

    settings = task_settings()
    started = crawl_stats.get("started_at")
    summary = {
        "dag_id": context["dag"].dag_id,
        "run_id": context["run_id"],
        "window": [str(v) for v in _interval(context)],
        "crawl": crawl_stats,
        "clean": clean_stats,
        "commit": commit_stats,
        "extractor": extractor(settings.site_profile),
        "duration_s": round(time.time() - started, 1) if started else None,
        "reported_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    _bucket(settings).put_json(layout.run_key(run_name(context), "report.json"), summary)
    log.info("run summary: %s", json.dumps(summary, sort_keys=True))
    return summary


def on_failure(context: dict) -> None:
    """Log the failure and post it to the webhook (Variable ``briefs_alert_webhook`` or env), if one is set."""
    ti = context.get("task_instance")
    message = {
        "text": f"insight-briefs: {context['dag'].dag_id} / {getattr(ti, 'task_id', '?')} failed for run "
        f"{context.get('run_id')}: {str(context.get('exception'))[:500]}",
    }
    log.error(message["text"])
    from pipelines.settings import alert_webhook_for_airflow_task

    url = alert_webhook_for_airflow_task()
    if not url:
        return
    request = urllib.request.Request(
        url, data=json.dumps(message).encode(), method="POST", headers={"Content-Type": "application/json"}
    )
    try:
        urllib.request.urlopen(request, timeout=10).close()
    except OSError as exc:  # an alert that cannot be sent must not hide the original failure
        log.warning("could not post the failure to the webhook: %s", exc)
