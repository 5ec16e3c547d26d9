"""``briefs gc``: remove what no snapshot references, once it is older than a grace period.

What goes: objects of crashed or lost commits (versions, packs, indexes, receipts of lost races), WARC files no
snapshot references, run staging (``runs/``) and leftover store probes. A run's staging and WARC files are judged
as a whole: they go once the run has been quiet for the grace period (its newest staging or WARC object is that
old) and, for a run that committed, its last snapshot is that old too; a running or retried run, which keeps
writing, is never touched. What never goes: manifests, anything a snapshot references (read from every manifest
and pack, verified: gc refuses to run on a damaged archive), receipts of committed snapshots, and anything younger
than the grace period, which an in-flight commit could still reference (a commit rewrites the content-addressed
objects it reuses, which makes them young again). Each deletion re-reads the object's age first. The DAG's
``tidy_staging`` task removes a run's staging earlier, as soon as its snapshot verified against it
(``pipelines.housekeeping``).
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from . import layout
from .archive import parse_when
from .documents import DamagedObject
from .settings import DEFAULT_GC_GRACE, parse_duration
from .storage import Bucket
from .verify import Report, references

DEFAULT_GRACE = DEFAULT_GC_GRACE
_STAGED = re.compile(
    r"runs/(.+?)/(crawl/[^/]+|[^/]+)"
)  # runs/{run_id}/crawl/records.jsonl, .../cleaned.jsonl.gz


def parse_grace(text: str) -> timedelta:
    """``7d``, ``12h``, ``30m`` or ``0`` (tests and drills)."""
    return parse_duration(text, "the grace period")


@dataclass
class Candidate:
    key: str
    size: int
    why: str
    run: str | None = None  # the run whose staging or WARC it is


@dataclass
class Collection:
    candidates: list[Candidate] = field(default_factory=list)
    kept_young: int = 0
    deleted: int = 0

    @property
    def bytes(self) -> int:
        return sum(c.size for c in self.candidates)

    def summary(self) -> dict:
        reasons: dict[str, int] = {}
        for candidate in self.candidates:
            reasons[candidate.why] = reasons.get(candidate.why, 0) + 1
        return {
            "candidates": len(self.candidates),
            "bytes": self.bytes,
            "by_reason": reasons,
            "kept_young": self.kept_young,
            "deleted": self.deleted,
        }


def _runs_with_snapshots(manifests) -> dict[str, datetime]:
    """run id -> when its newest snapshot was committed."""
    runs: dict[str, datetime] = {}
    for manifest in manifests.values():
        when = parse_when(manifest.created_at)
        runs[manifest.run_id] = max(when, runs.get(manifest.run_id, when))
    return runs


def run_of(key: str, runs: dict[str, datetime] | None = None) -> str | None:
    """The run whose staging or WARC object `key` is: a committed run in `runs` when one matches (run ids may
    contain slashes: ``dag_id/run_id``), else the run the key's shape names; None for other keys."""
    if not key.startswith(("runs/", "warc/")):
        return None
    parts = key.split("/")[1:-1]
    known = next(
        (run for n in range(1, len(parts) + 1) if (run := "/".join(parts[:n])) in (runs or {})), None
    )
    if known is not None or key.startswith("warc/"):
        return known or "/".join(parts) or None
    match = _STAGED.fullmatch(key)
    return match.group(1) if match else None


def _last_activity(objects: list[dict], runs: dict[str, datetime]) -> dict[str, datetime]:
    """run id -> when its newest staging or WARC object was written (a running run keeps this young)."""
    activity: dict[str, datetime] = {}
    for obj in objects:
        run = run_of(obj["key"], runs)
        if run is not None:
            activity[run] = max(obj["last_modified"], activity.get(run, obj["last_modified"]))
    return activity


def _receipt_is_live(key: str, manifests) -> bool:
    parts = layout.receipt_parts(key)
    if parts is None:
        return False
    manifest = manifests.get(parts[0])
    return (
        manifest is not None
        and manifest.input_sha256.startswith(parts[1])
        and key.startswith(layout.receipts_prefix(manifest.run_id))
    )


def collect(bucket: Bucket, grace: timedelta = DEFAULT_GRACE, now: datetime | None = None) -> Collection:
    """What gc would delete (a dry run): refuses with DamagedObject if the archive does not verify."""
    now = now or datetime.now(UTC)
    report = Report()
    refs = references(bucket, report)
    if not report.ok:
        raise DamagedObject(
            f"the archive does not verify ({report.missing} missing, {report.mismatched} mismatched; first: "
            f"{report.problems[0]}): gc deletes nothing until `briefs verify --full` passes"
        )
    keep = refs.keys()
    runs = _runs_with_snapshots(refs.manifests)
    objects = list(bucket.list(""))
    activity = _last_activity(objects, runs)
    result = Collection()
    for obj in objects:
        key = obj["key"]
        why = _why(key, keep, runs, refs.manifests)
        if why is None:
            continue
        run = run_of(key, runs)
        young = [
            obj["last_modified"],
            activity.get(run, obj["last_modified"]),
            runs.get(run, obj["last_modified"]),
        ]
        if any(now - when < grace for when in young):  # the object, its run's last write, its run's snapshot
            result.kept_young += 1
            continue
        result.candidates.append(Candidate(key, obj["size"], why, run))
    return result


def _why(key: str, keep: set[str], runs, manifests) -> str | None:
    """Why `key` may go, age aside (None: it stays)."""
    if key in keep or layout.snapshot_seq(key) is not None or layout.is_derived(key):
        return None
    if key.startswith(("articles/", "packs/", "indexes/")):
        return "unreferenced (a crashed or lost commit)"
    if key.startswith("warc/"):
        return "WARC of a run that never committed"
    if key.startswith("commits/"):
        return None if _receipt_is_live(key, manifests) else "receipt of a lost commit attempt"
    if key.startswith("probes/"):
        return "leftover store probe"
    if key.startswith("runs/"):
        committed = run_of(key, runs) in runs
        return "staging of a committed run" if committed else "staging of a run that never committed"
    return None  # not ours: never touched


def apply(bucket: Bucket, collection: Collection, grace: timedelta, threads: int = 16) -> Iterator[str]:
    """Delete the candidates, each after re-reading its age (a commit may have rewritten it since), and a run's
    staging and WARC only if the run is still quiet now: a run cleared while gc ran writes under its prefixes."""
    quiet: dict[str, bool] = {}
    lock = threading.Lock()

    def run_is_quiet(run: str) -> bool:
        with lock:
            if run not in quiet:
                quiet[run] = _quiet(bucket, run, grace)
            return quiet[run]

    def delete(candidate: Candidate) -> str | None:
        if candidate.run is not None and not run_is_quiet(candidate.run):
            return None
        meta = bucket.head(candidate.key)
        if meta is None or datetime.now(UTC) - meta["last_modified"] < grace:
            return None
        bucket.delete(candidate.key)
        return candidate.key

    with ThreadPoolExecutor(threads) as pool:
        for key in pool.map(delete, collection.candidates):
            if key is not None:
                collection.deleted += 1
                yield key


def _quiet(bucket: Bucket, run: str, grace: timedelta) -> bool:
    """No object of the run (staging, WARC, commit receipts) younger than the grace period, read now."""
    now = datetime.now(UTC)
    prefixes = (layout.run_key(run, ""), layout.warc_key(run, ""), layout.receipts_prefix(run))
    return all(now - obj["last_modified"] >= grace for prefix in prefixes for obj in bucket.list(prefix))
