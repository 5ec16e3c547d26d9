"""Weekly upkeep of the archive: verify the recent chain, then gc (with its grace period); and the versions
table's checkpoint. Wiring only: the task bodies are in ``pipelines.maintenance``; what may be deleted when is
in docs/storage.md. A failed task posts to the alert webhook, like the archive DAG's.
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta

from airflow.sdk import dag, get_current_context, task

from pipelines import alerts

DEFAULTS = {
    "owner": "insight-briefs",
    "retries": 1,
    "retry_delay": timedelta(minutes=5),
    "on_failure_callback": alerts.on_failure,
}


@dag(
    dag_id="insight_briefs_maintenance",
    description="Weekly: verify the recent snapshots, gc what nothing references, checkpoint the versions table.",
    schedule=os.environ.get("BRIEFS_MAINTENANCE_SCHEDULE", "@weekly"),
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULTS,
    tags=["insight-briefs"],
    doc_md=__doc__,
)
def maintenance():
    @task(execution_timeout=timedelta(hours=1))
    def verify_recent() -> dict:
        from pipelines.maintenance import verify_recent

        return verify_recent(get_current_context())

    # In the commits' one-slot pool: gc never lists the objects a commit in flight has written before its manifest.
    @task(execution_timeout=timedelta(hours=3), pool="briefs_commit")
    def collect_garbage() -> dict:
        from pipelines.maintenance import collect_garbage

        return collect_garbage(get_current_context())

    @task(execution_timeout=timedelta(hours=1))
    def maintain_table() -> dict:
        from pipelines.maintenance import maintain_table

        return maintain_table(get_current_context())

    verify_recent() >> collect_garbage()
    maintain_table()


maintenance_dag = maintenance()
