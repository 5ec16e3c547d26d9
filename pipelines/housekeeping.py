"""Run staging goes once its run's snapshot is verified against it (the DAG's ``tidy_staging`` task).

A run stages its crawl outputs and cleaned records under ``runs/{run_id}/`` so that each task can retry alone
(``pipelines.run``). Once the commit is done and the snapshot verified, the staging is redundant: the manifest
records the digest of the input it was committed from (``input_sha256``), so recomputing that digest from the
staged files proves the snapshot holds exactly what was staged. Only then is the staging deleted, except
``report.json`` (the run's summary, small; gc removes it with the rest of a quiet run's staging after the grace
period). A mismatch or a failed delete is a warning and leaves the rest to ``briefs gc``: tidying never fails a
snapshot. WARC files (``warc/{run_id}/``) and receipts (``commits/{run_id}/``) are archive content, never staging.
"""

from __future__ import annotations

import gzip
import logging
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from . import layout
from .commit import input_digest, typed_records
from .documents import CleanedRecord, DamagedObject, decode
from .storage import Bucket, MissingObject, StorageError
from .verified import read_manifest

log = logging.getLogger("insight_briefs.housekeeping")
KEEP = ("report.json",)  # the run's summary stays until gc's grace period


@dataclass
class Tidy:
    """What tidying a run's staging did; ``verified`` says whether the snapshot matched the staging."""

    run_id: str
    snapshot: int | None
    verified: bool = False
    deleted: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def summary(self) -> dict:
        return {
            "run_id": self.run_id,
            "snapshot": self.snapshot,
            "verified": self.verified,
            "deleted": len(self.deleted),
            "kept": self.kept,
            "warnings": self.warnings,
        }


def staged_input_digest(bucket: Bucket, run_id: str, workdir: Path) -> str:
    """The digest the commit computed from this run's staging: its cleaned records and the crawl's high-water
    marks (a re-clean stages no crawl state: no marks)."""
    from spiders.state import CrawlState

    cleaned = workdir / "cleaned.jsonl.gz"
    bucket.download_file(layout.run_key(run_id, "cleaned.jsonl.gz"), cleaned)
    with gzip.open(cleaned, "rb") as handle:
        records = [
            decode(CleanedRecord, line, f"cleaned.jsonl.gz line {n}") for n, line in enumerate(handle, 1)
        ]
    high_water: dict[str, str] = {}
    state = workdir / "state.jsonl"
    try:
        bucket.download_file(layout.run_key(run_id, "crawl/state.jsonl"), state)
        high_water = {k: v for k, v in CrawlState.load(state).high_water.items() if v}
    except MissingObject:
        pass
    return input_digest(typed_records(records), high_water)


def _verify(bucket: Bucket, run_id: str, seq: int, tidy: Tidy) -> bool:
    """Does snapshot `seq` hold this run's staging? Also for a reprocessed run that changed nothing
    (``unchanged``: the snapshot returned is the run's earlier one): staging that differs from what that
    snapshot was committed from (new high-water marks, say) is no snapshot's and waits for gc."""
    manifest = read_manifest(bucket, seq).manifest
    if manifest.run_id != run_id:
        tidy.warnings.append(f"snapshot {seq} is run {manifest.run_id}'s, not {run_id}'s: staging kept")
        return False
    with tempfile.TemporaryDirectory(prefix="briefs-tidy-") as tmp:
        staged = staged_input_digest(bucket, run_id, Path(tmp))
    if staged != manifest.input_sha256:
        tidy.warnings.append(
            f"the staging of {run_id} is not the input snapshot {seq} was committed from "
            f"({staged[:12]} != {manifest.input_sha256[:12]}): staging kept for gc"
        )
        return False
    return True


def tidy_staging(bucket: Bucket, run_id: str, commit_stats: dict) -> Tidy:
    """Verify the run's snapshot against its staging, then delete the staging (but ``report.json``).
    Never raises for a storage problem: each one becomes a warning and the staging waits for gc."""
    seq = commit_stats.get("snapshot")
    tidy = Tidy(run_id, seq)
    prefix = layout.run_key(run_id, "")
    try:
        objects = [o["key"] for o in bucket.list(prefix)]
        if not any(key.endswith("/cleaned.jsonl.gz") for key in objects):
            tidy.kept = [key[len(prefix) :] for key in objects]
            tidy.warnings.append(f"no staged input under {prefix}: nothing to verify or delete")
            return tidy
        tidy.verified = seq is not None and _verify(bucket, run_id, seq, tidy)
    except (StorageError, DamagedObject, OSError, ValueError) as exc:
        tidy.warnings.append(f"could not verify the staging of {run_id}: {exc}")
        return tidy
    for key in objects:
        name = key[len(prefix) :]
        if not tidy.verified or name in KEEP:
            tidy.kept.append(name)
            continue
        try:
            bucket.delete(key)
            tidy.deleted.append(name)
        except StorageError as exc:
            tidy.kept.append(name)
            tidy.warnings.append(f"could not delete {key}: {exc}")
    return tidy
