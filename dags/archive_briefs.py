"""The site's briefs (InSight Crime by default): the nightly archiving DAG and the weekly reconciliation DAG.

Wiring only: what each task does is in ``pipelines.tasks``. Nothing heavy is imported at parse time.
crawl -> clean -> commit -> verify -> report -> tidy_staging, and from the commit the derived products: the
versions table (Delta Lake), the change report, the WACZ of the run's captures. The commit announces each snapshot
on the ``insight_briefs_snapshots`` Asset alias; the table publish on ``insight_briefs_versions``; the report,
which runs whatever became of the run, its summary on ``insight_briefs_runs``. ``tidy_staging`` deletes the run's
staging once the snapshot verified against it. A failed task posts to the alert webhook (``pipelines.alerts``).
Backfills: Trigger -> Backfill in the UI, ``POST /api/v2/backfills`` or ``airflow backfill create``; each logical
date archives the briefs published or modified in that day's data interval.
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta

from airflow.sdk import CronDataIntervalTimetable, Param, dag, get_current_context, task

from pipelines import alerts, tasks
from pipelines.assets import SNAPSHOTS, VERSIONS
from pipelines.settings import profile_from_env
from pipelines.summary import RUNS

PROFILE = profile_from_env()  # which site: BRIEFS_PROFILE (default insightcrime); its editions fill the form

COMMIT_POOL = (
    "briefs_commit"  # one slot: commits never run concurrently (conditional writes stay the last line)
)
DEFAULTS = {
    "owner": "insight-briefs",
    "retries": int(os.environ.get("BRIEFS_TASK_RETRIES", "3")),
    "retry_delay": timedelta(seconds=int(os.environ.get("BRIEFS_RETRY_DELAY_SECONDS", "60"))),
    "retry_exponential_backoff": True,
    "max_retry_delay": timedelta(minutes=30),
    "on_failure_callback": alerts.on_failure,
}
PARAMS = {
    "editions": Param(
        "both",
        enum=["both", *PROFILE.editions],
        title="Editions",
        description="Which language editions to archive (both: every edition of the site).",
    ),
    "categories": Param(
        None,
        type=["null", "string"],
        pattern=r"^[a-z0-9_-]+(,[a-z0-9_-]+)*$",
        title="Categories",
        description="Scope override: comma-separated category slugs, each with all its subcategories "
        f"(empty: the site's scope, {', '.join(s for e in PROFILE.editions.values() for s in e.scope)}).",
    ),
    "force_refetch": Param(
        False,
        type="boolean",
        title="Force refetch",
        description="Ignore ETag/Last-Modified and download every page again.",
    ),
    "reclean_only": Param(
        False,
        type="boolean",
        title="Re-clean only",
        description="Re-extract the archived WARC records with the current extractor; fetch nothing.",
    ),
    "reconcile": Param(
        False,
        type="boolean",
        title="Reconcile now",
        description="List every post through the sitemaps and record removed ones (tombstones).",
    ),
    "max_items": Param(
        None,
        type=["null", "integer"],
        minimum=1,
        maximum=100000,
        title="Max items",
        description="Fetch at most this many articles (empty: no limit).",
    ),
}


def build(dag_id: str, cron: str, reconcile: bool, description: str):
    @dag(
        dag_id=dag_id,
        description=description,
        schedule=CronDataIntervalTimetable(cron, timezone="UTC"),
        start_date=datetime(2026, 1, 1),
        catchup=False,
        max_active_runs=1,
        default_args=DEFAULTS,
        params=PARAMS,
        tags=["insight-briefs"],
        doc_md=__doc__,
    )
    def archive():
        @task(execution_timeout=timedelta(hours=3))
        def crawl() -> dict:
            return tasks.crawl(get_current_context(), reconcile_dag=reconcile)

        @task(execution_timeout=timedelta(hours=2))
        def clean(crawl_stats: dict) -> dict:
            return tasks.clean(get_current_context())

        @task(execution_timeout=timedelta(hours=1), pool=COMMIT_POOL, outlets=[SNAPSHOTS])
        def commit(crawl_stats: dict, clean_stats: dict) -> dict:
            return tasks.commit(get_current_context(), crawl_stats, clean_stats)

        @task(execution_timeout=timedelta(minutes=10), retries=0)
        def verify(crawl_stats: dict, clean_stats: dict, commit_stats: dict) -> dict:
            return tasks.verify(get_current_context(), crawl_stats, clean_stats, commit_stats)

        # Runs whatever became of the run (it reads its inputs from XCom): a failed run has a summary too.
        @task(execution_timeout=timedelta(minutes=10), trigger_rule="all_done", outlets=[RUNS])
        def report() -> dict:
            return tasks.report(get_current_context())

        # A leaf after verify: a failed verify leaves it upstream_failed, so the run fails though report ran.
        @task(execution_timeout=timedelta(minutes=10))
        def tidy_staging(commit_stats: dict) -> dict:
            return tasks.tidy_staging(get_current_context(), commit_stats)

        @task(execution_timeout=timedelta(minutes=30), outlets=[VERSIONS])
        def publish_table(commit_stats: dict) -> dict:
            return tasks.publish_table(get_current_context(), commit_stats)

        @task(execution_timeout=timedelta(minutes=30))
        def report_changes(commit_stats: dict) -> dict:
            return tasks.report_changes(get_current_context(), commit_stats)

        @task(execution_timeout=timedelta(minutes=30))
        def package_captures(commit_stats: dict) -> dict:
            return tasks.package_captures(get_current_context(), commit_stats)

        crawled = crawl()
        cleaned = clean(crawled)
        committed = commit(crawled, cleaned)
        verdict = verify(crawled, cleaned, committed)
        summary = report()
        [crawled, cleaned, committed, verdict] >> summary
        [verdict, summary] >> tidy_staging(committed)
        # Derived from the snapshot, each on its own: a failure retries alone and never blocks or alters it.
        publish_table(committed)
        report_changes(committed)
        package_captures(committed)

    return archive()


archive_dag = build(
    "insight_briefs_archive",
    os.environ.get("BRIEFS_SCHEDULE", "30 2 * * *"),
    reconcile=False,
    description="Nightly: archive the briefs published or modified in the data interval.",
)
reconcile_dag = build(
    "insight_briefs_reconcile",
    os.environ.get("BRIEFS_RECONCILE_SCHEDULE", "0 4 * * 0"),
    reconcile=True,
    description="Weekly: list every brief through the sitemaps and tombstone removed ones.",
)
