"""The weekly maintenance DAG's task bodies (``dags/maintenance.py`` only wires them).

verify the recent chain -> gc with its grace period; and, on its own, the versions table's upkeep: a Delta
checkpoint (readers replay fewer log files) and nothing that would shorten time travel: no vacuum (a rebuild's
replaced files are what older table versions read) and no expired-log cleanup (the table is set not to do it
on its own either, ``delta.enableExpiredLogCleanup=false``: delta-rs would otherwise drop log files older than
30 days at each automatic checkpoint, and with them every table version before it).
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

from pipelines.tasks import task_settings

log = logging.getLogger("insight_briefs.maintenance")
RECENT = timedelta(days=8)  # a week of snapshots, and the one before it (its parent link)
KEEP_LOGS = {"delta.enableExpiredLogCleanup": "false"}


def _bucket(settings=None):
    from pipelines.storage import Bucket

    return Bucket((settings or task_settings()).storage)


def verify_recent(context: dict, recent: timedelta = RECENT) -> dict:
    """Each snapshot committed in the last `recent` (at least the newest): manifest, parent link, index, the
    versions it added, its packs and WARC files. Fails the task on any damage (which alerts)."""
    from airflow.sdk.exceptions import AirflowFailException

    from pipelines.archive import parse_when
    from pipelines.verified import read_manifest, snapshot_seqs
    from pipelines.verify import verify

    bucket = _bucket()
    seqs = snapshot_seqs(bucket)
    since = datetime.now(UTC) - recent
    recent_seqs = []
    for seq in reversed(seqs):  # newest first, back to the first one older than the window
        recent_seqs.append(seq)
        if parse_when(read_manifest(bucket, seq).manifest.created_at) < since:
            break
    problems: list[str] = []
    for seq in sorted(recent_seqs):
        report = verify(bucket, at=seq)
        problems += report.problems
    for problem in problems:
        log.error("verify: %s", problem)
    if problems:
        raise AirflowFailException(f"{len(problems)} problems in snapshots {recent_seqs}: {problems[0]}")
    return {"verified": sorted(recent_seqs), "snapshots": len(seqs)}


def collect_garbage(context: dict) -> dict:
    """``briefs gc --apply`` with the configured grace period (``briefs_gc_grace`` / ``BRIEFS_GC_GRACE``), with
    the connection ``briefs_s3_gc`` when it exists: the nightly runs' credentials need not be allowed to delete."""
    from pipelines import gc
    from pipelines.settings import GC_CONNECTION_ID, Settings

    settings = Settings.for_airflow_task(connection_id=GC_CONNECTION_ID)
    bucket = _bucket(settings)
    found = gc.collect(bucket, settings.gc_grace)
    for candidate in found.candidates[:50]:
        log.info("gc: %s (%s)", candidate.key, candidate.why)
    deleted = sum(1 for _ in gc.apply(bucket, found, settings.gc_grace))
    log.info(
        "gc: deleted %d objects (%d bytes listed), kept %d young", deleted, found.bytes, found.kept_young
    )
    return {**found.summary(), "grace_s": int(settings.gc_grace.total_seconds())}


def maintain_table(context: dict) -> dict:
    """Checkpoint the versions table if it exists, after making sure it never drops its own old log files."""
    from pipelines.delta import VersionsTable

    table = VersionsTable(_bucket())
    current = table.load()
    if current is None:
        return {"table": table.uri, "exists": False}
    with table.errors("maintaining"):
        config = current.metadata().configuration
        if any(config.get(name) != value for name, value in KEEP_LOGS.items()):
            current.alter.set_table_properties(KEEP_LOGS, raise_if_not_exists=False)
            current = table.load()
        current.create_checkpoint()
        version = current.version()
    log.info("versions table %s: checkpoint at version %s", table.uri, version)
    return {"table": table.uri, "exists": True, "checkpoint": version, **KEEP_LOGS}
