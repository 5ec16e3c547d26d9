"""What the Airflow tasks do (``dags/archive_briefs.py`` only wires them).

Module-level imports stay light so that DAG files parse fast; each task imports the heavy stages it needs. Every
task reads its inputs from the bucket's run-scoped staging, so any one of them can be retried alone.
"""

from __future__ import annotations

import json
import logging
import re
import statistics
import tempfile
import time
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path

from pipelines.settings import QualityThresholds, Settings

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
    editions = {"both": "en,es"}.get(params.get("editions", "both"), params.get("editions"))
    reconcile = reconcile_dag or params.get("reconcile")
    job = CrawlJob(
        out=Path("."),
        mode="reconcile" if reconcile else "window",
        site=settings.site,
        editions=editions,
        after=None if reconcile else (start - overlap).isoformat(),
        before=None if reconcile else end.isoformat(),
        include_modified=True,
        force_refetch=bool(params.get("force_refetch")),
        max_items=params.get("max_items"),
        polite=settings.polite,
    )
    with tempfile.TemporaryDirectory(prefix="briefs-crawl-") as tmp:
        job.out = Path(tmp) / "crawl"
        stats = stage_crawl(_bucket(settings), run_name(context), job, log)
    keep = ("mode", "discovered", "discovery_requests", "fetch", "candidates", "warc_responses")
    return {"started_at": started, **{k: stats[k] for k in keep}}


def clean(context: dict) -> dict:
    from pipelines.run import stage_clean, stage_reclean

    settings = task_settings()
    bucket, name, params = _bucket(settings), run_name(context), context["params"]
    with tempfile.TemporaryDirectory(prefix="briefs-clean-") as tmp:
        if params.get("reclean_only"):
            return stage_reclean(bucket, name, Path(tmp), settings.site, params.get("max_items"))
        return stage_clean(bucket, name, Path(tmp), settings.site)


def commit(context: dict, crawl_stats: dict, clean_stats: dict) -> dict:
    from pipelines.documents import to_builtins
    from pipelines.run import stage_commit

    start, end = _interval(context)
    run_info = {
        "dag_id": context["dag"].dag_id,
        "run_id": context["run_id"],
        "mode": crawl_stats.get("mode"),
        "window": [start.isoformat(), end.isoformat()],
        "params": dict(context["params"]),
        "crawl": crawl_stats,
        "clean": clean_stats,
    }
    with tempfile.TemporaryDirectory(prefix="briefs-commit-") as tmp:
        result = stage_commit(_bucket(task_settings()), run_name(context), Path(tmp), run_info)
    return {
        "snapshot": result.seq,
        "created": result.created,
        "counts": to_builtins(result.manifest.counts),
        "versions_written": result.versions_written,
        "bytes_written": result.bytes_written,
    }


class QualityGateFailed(Exception):
    """The run's output looks wrong (nothing extracted, empty bodies, leaks, a sharp drop): fail loudly."""


def quality_problems(
    crawl_stats: dict,
    clean_stats: dict,
    commit_stats: dict,
    recent_mean_chars: list[float],
    thresholds: QualityThresholds,
) -> list[str]:
    """The quality gate, as a pure function of its inputs and `thresholds` (``Settings.quality``): every reason
    this run must fail (empty list: it passes)."""
    problems = []
    pages = clean_stats.get("pages", 0)
    fetched = sum((crawl_stats.get("fetch") or {}).get(k, 0) for k in ("fetched", "redirected"))
    if fetched and not clean_stats.get("cleaned"):
        problems.append(f"{fetched} pages fetched but nothing extracted")
    quality = clean_stats.get("quality", {})
    for flag, limit in (
        ("empty_body", thresholds.max_empty_rate),
        ("boilerplate_leak", thresholds.max_leak_rate),
    ):
        rate = quality.get(flag, 0) / pages if pages else 0.0
        if rate > limit:
            problems.append(f"{flag} on {rate:.0%} of {pages} pages (limit {limit:.0%})")
    mean = clean_stats.get("mean_chars")
    if mean and len(recent_mean_chars) >= 3 and pages >= 5:
        baseline = statistics.median(recent_mean_chars)
        if mean < thresholds.min_body_ratio * baseline:
            problems.append(
                f"mean body length {mean:.0f} chars against {baseline:.0f} in recent runs (layout drift?)"
            )
    if not commit_stats.get("snapshot"):
        problems.append("no snapshot was written")
    return problems


def verify(context: dict, crawl_stats: dict, clean_stats: dict, commit_stats: dict) -> dict:
    """The snapshot just committed must verify (chain, index, the versions it added, packs, WARC files), and the
    run's output must pass the quality gate."""
    from airflow.sdk.exceptions import AirflowFailException

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
    recent = _recent_mean_chars(bucket, commit_stats.get("snapshot"))
    problems = quality_problems(crawl_stats, clean_stats, commit_stats, recent, settings.quality)
    for problem in problems:
        log.error("quality gate: %s", problem)
    if problems:
        raise AirflowFailException("quality gate failed: " + "; ".join(problems))
    return {"passed": True, "integrity": integrity.summary(), "recent_mean_chars": recent}


def _recent_mean_chars(bucket, seq: int | None, runs: int = 7) -> list[float]:
    """Mean body length of the last runs that cleaned pages, from their manifests (the archive's own history)."""
    from pipelines.verified import read_manifest

    values: list[float] = []
    current = (seq or 0) - 1
    while current > 0 and len(values) < runs:
        manifest = read_manifest(bucket, current).manifest
        clean_stats = manifest.run.get("clean") or {}
        if clean_stats.get("mean_chars") and clean_stats.get("pages", 0) >= 5:
            values.append(clean_stats["mean_chars"])
        current = manifest.parent or 0
    return values


def report(context: dict, crawl_stats: dict, clean_stats: dict, commit_stats: dict) -> dict:
    from pipelines import layout
    from pipelines.clean import EXTRACTOR

    started = crawl_stats.get("started_at")
    summary = {
        "dag_id": context["dag"].dag_id,
        "run_id": context["run_id"],
        "window": [str(v) for v in _interval(context)],
        "crawl": crawl_stats,
        "clean": clean_stats,
        "commit": commit_stats,
        "extractor": EXTRACTOR,
        "duration_s": round(time.time() - started, 1) if started else None,
        "reported_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    _bucket(task_settings()).put_json(layout.run_key(run_name(context), "report.json"), summary)
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
