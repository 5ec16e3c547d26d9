"""``briefs gc``: remove what no snapshot references, once it is older than a grace period.

What goes: objects of crashed or lost commits (versions, packs, indexes, receipts of lost races), WARC files of
runs that never committed, staging (``runs/``) of runs committed more than the grace period ago or abandoned
that long ago, and leftover store probes. What never goes: manifests, anything a snapshot references (read from
every manifest and pack, verified: gc refuses to run on a damaged archive), receipts of committed snapshots, and
anything younger than the grace period, which an in-flight commit could still reference (a commit rewrites the
content-addressed objects it reuses, which makes them young again). Each deletion re-reads the object's age first.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from . import layout
from .archive import parse_when
from .documents import DamagedObject
from .storage import Bucket
from .verify import Report, references

DEFAULT_GRACE = timedelta(days=7)


def parse_grace(text: str) -> timedelta:
    """``7d``, ``12h``, ``30m`` or ``0`` (tests and drills)."""
    match = re.fullmatch(r"([0-9]+)([dhms]?)", text.strip(), re.ASCII)
    if not match:
        raise ValueError(f"not a grace period: {text!r} (use 7d, 12h, 30m or 0)")
    unit = {"d": "days", "h": "hours", "m": "minutes", "s": "seconds", "": "seconds"}[match.group(2)]
    return timedelta(**{unit: int(match.group(1))})


@dataclass
class Candidate:
    key: str
    size: int
    why: str


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


def _run_of(key: str, runs: dict[str, datetime]) -> str | None:
    """The committed run whose staging `key` is (run ids may contain slashes: ``dag_id/run_id``)."""
    parts = key.split("/")[1:-1]
    return next((run for n in range(1, len(parts) + 1) if (run := "/".join(parts[:n])) in runs), None)


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
    result = Collection()
    for obj in bucket.list(""):
        key, age = obj["key"], now - obj["last_modified"]
        why = _why(key, keep, runs, refs.manifests, now, grace)
        if why is None:
            continue
        if age < grace:
            result.kept_young += 1
            continue
        result.candidates.append(Candidate(key, obj["size"], why))
    return result


def _why(key: str, keep: set[str], runs, manifests, now: datetime, grace: timedelta) -> str | None:
    """Why `key` may go (None: it stays)."""
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
        run_id = _run_of(key, runs)
        if run_id is None:
            return "staging of a run that never committed"
        return "staging of a committed run" if now - runs[run_id] >= grace else None
    return None  # not ours: never touched


def apply(bucket: Bucket, collection: Collection, grace: timedelta, threads: int = 16) -> Iterator[str]:
    """Delete the candidates, each after re-reading its age (a commit may have rewritten it since)."""

    def delete(candidate: Candidate) -> str | None:
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
