"""Example: a DAG of your own that runs whenever the archive commits a snapshot (paused until you unpause it).

It is scheduled on the snapshot log's Asset alias, which the archive and reconcile DAGs update once per committed
snapshot; the event's ``extra`` says which snapshot, where, and what changed, so this DAG needs no bucket listing.
Copy it and replace ``summarise`` with your own work (a notebook refresh, an export, a message to a channel).
"""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import dag, get_current_context, task

from pipelines.assets import SNAPSHOTS


@dag(
    dag_id="insight_briefs_example_on_new_snapshot",
    schedule=[SNAPSHOTS],
    start_date=datetime(2026, 1, 1),
    catchup=False,
    is_paused_upon_creation=True,
    tags=["insight-briefs", "example"],
    doc_md=__doc__,
)
def example_on_new_snapshot():
    @task
    def summarise() -> list[dict]:
        """One line per snapshot that triggered this run: its number and what changed in it."""
        from pipelines.tasks import snapshot_events

        return snapshot_events(get_current_context())

    summarise()


example_on_new_snapshot()
