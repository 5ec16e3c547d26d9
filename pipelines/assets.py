"""The archive as Airflow Assets: the snapshot log and the versions table, so that the UI's Assets view shows the
archive's history and a user's own DAG can be scheduled on new snapshots (``dags/example_on_new_snapshot.py``).

Tasks declare Asset *aliases* and attach each event, at run time, to the Asset named by the storage the task
actually wrote to (``s3://{bucket}/{prefix}/snapshots``; the bucket comes from the Airflow connection, which DAG
files do not read when parsed). A DAG scheduled on the alias runs for every snapshot of whichever archive is
configured. Aliases also let a task emit only when it did something: a retried commit that finds the snapshot
its failed try made emits it then, and a reprocessed run that changed nothing emits nothing. (Clearing a commit
task that had succeeded makes it find its own snapshot again as a retry: that one event comes twice, same seq.)
Light on purpose: DAG files import this module.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from airflow.sdk import Asset, AssetAlias

if TYPE_CHECKING:
    from pipelines.storage import StorageConfig

GROUP = "insight-briefs"
SNAPSHOTS = AssetAlias(name="insight_briefs_snapshots", group=GROUP)
VERSIONS = AssetAlias(name="insight_briefs_versions", group=GROUP)
_PATHS = {SNAPSHOTS.name: "snapshots", VERSIONS.name: "tables/versions"}


def emit(context: dict, alias: AssetAlias, storage: StorageConfig, extra: dict) -> None:
    """One event, through `alias`, on the Asset of the archive `storage` names; recorded when the task succeeds."""
    asset = Asset(uri=storage.uri(_PATHS[alias.name]), group=GROUP)
    context["outlet_events"][alias].add(asset, extra=extra)


def snapshot_extra(commit_stats: dict, location: str) -> dict:
    """What a downstream DAG needs without reading the bucket: which snapshot, what changed, where."""
    counts = commit_stats.get("counts") or {}
    return {
        "seq": commit_stats.get("snapshot"),
        "location": location,
        "articles": counts.get("articles"),
        "live": counts.get("live"),
        "gone": counts.get("gone"),
        "changes": {k: counts.get(k, 0) for k in ("new", "changed", "removed", "aliased", "superseded")},
    }
