"""One archiving run as three stages, each retryable on its own because its inputs are staged in the bucket.

crawl  -> ``runs/{run_id}/crawl/{records.jsonl,stats.json,state.jsonl}`` and ``warc/{run_id}/*.warc.gz``
clean  -> ``runs/{run_id}/cleaned.jsonl.gz``
commit -> the next snapshot

``briefs run`` chains them in one process; the Airflow DAG runs them as separate tasks.
"""

from __future__ import annotations

import gzip
import json
import logging
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import msgspec

from spiders.editions import Strategy
from spiders.runner import CrawlJob, run_crawl
from spiders.sites import SiteProfile, load_profile
from spiders.state import CrawlState, KnownPost

from . import layout
from .clean import clean_run
from .commit import CommitResult, commit_run, read_head, upload_warcs
from .documents import CleanedRecord, decode
from .storage import Bucket, MissingObject
from .verified import versions_of

log = logging.getLogger("insight_briefs.run")


def crawl_state_from_head(bucket: Bucket) -> CrawlState:
    """What the crawler needs to know, read from the latest snapshot: the archive is the state. The head's
    number goes along as every observation's ``base_seq`` (what the run planned against)."""
    head = read_head(bucket)
    state = CrawlState(high_water=dict(head.high_water), base_seq=head.seq, strategies=_strategies(bucket))
    for row in head.index.values():
        if row.post_id is None:
            continue
        state.posts[row.post_id] = KnownPost(
            post_id=row.post_id,
            edition=row.edition or "en",
            url=row.url,
            aliases=list(row.aliases),
            etag=row.etag,
            last_modified=row.last_modified,
            modified=row.modified,
            fingerprint=row.fingerprint,
            gone=row.status == "gone",
        )
    return state


def _strategies(bucket: Bucket) -> dict[str, Strategy]:
    """The discovery cache; missing or unreadable means every edition is probed again (and says so)."""
    try:
        rows = bucket.get_json(layout.discovery_key())  # one GET: a missing cache is the first run's case
    except MissingObject:
        return {}
    try:
        return {edition: Strategy.from_dict(row) for edition, row in rows.items()}
    except (ValueError, TypeError, AttributeError) as exc:
        log.warning(
            "discovery cache %s unreadable (%s): every edition is probed again", layout.discovery_key(), exc
        )
        return {}


def stage_crawl(bucket: Bucket, run_id: str, job: CrawlJob, logger: logging.Logger | None = None) -> dict:
    """Crawl with the archive's state; stage the outputs and WARC files in the bucket."""
    out = Path(job.out)
    out.mkdir(parents=True, exist_ok=True)
    state_path = out / "state-in.jsonl"
    crawl_state_from_head(bucket).save(state_path)
    job.state = state_path
    stats = run_crawl(job, logger)
    for name in ("records.jsonl", "stats.json", "state.jsonl"):
        bucket.upload_file(out / name, layout.run_key(run_id, f"crawl/{name}"))
    strategies = CrawlState.load(out / "state.jsonl").strategies
    if strategies:
        bucket.put_json(layout.discovery_key(), {e: s.as_dict() for e, s in sorted(strategies.items())})
    upload_warcs(bucket, run_id, out / "warc")
    return stats


def _ensure_local(bucket: Bucket, run_id: str, workdir: Path) -> Path:
    """The crawl outputs of `run_id` in `workdir`, downloaded from staging when this worker lacks them."""
    crawl_dir = workdir / "crawl"
    (crawl_dir / "warc").mkdir(parents=True, exist_ok=True)
    for name in ("records.jsonl", "state.jsonl"):
        if not (crawl_dir / name).exists():
            bucket.download_file(layout.run_key(run_id, f"crawl/{name}"), crawl_dir / name)
    with open(crawl_dir / "records.jsonl", encoding="utf-8") as handle:
        needed = {json.loads(line).get("warc_file") for line in handle}
    for name in sorted(filter(None, needed)):
        if not (crawl_dir / "warc" / name).exists():
            bucket.download_file(layout.warc_key(run_id, name), crawl_dir / "warc" / name)
    return crawl_dir


def stage_clean(
    bucket: Bucket, run_id: str, workdir: Path, profile: SiteProfile, workers: int | None = None
) -> dict:
    crawl_dir = _ensure_local(bucket, run_id, workdir)
    cleaned = workdir / "cleaned.jsonl.gz"
    stats = clean_run(crawl_dir / "records.jsonl", crawl_dir / "warc", cleaned, profile, workers)
    bucket.upload_file(cleaned, layout.run_key(run_id, "cleaned.jsonl.gz"))
    return stats.as_dict()


def stage_reclean(
    bucket: Bucket, run_id: str, workdir: Path, profile: SiteProfile, max_items: int | None = None
) -> dict:
    """Re-extract archived pages from their WARC records with the current extractor: no request to the site.

    Each record re-extracts the *current* version's WARC record (``reextract_of``), so a re-clean can never
    move an article back in time; the commit writes a new version only where the result differs.
    """
    head = read_head(bucket)
    entries = [e for e in head.index.values() if e.status == "live"]
    entries = entries[:max_items] if max_items else entries
    crawl_dir = workdir / "crawl"
    (crawl_dir / "warc").mkdir(parents=True, exist_ok=True)
    with open(crawl_dir / "records.jsonl", "w", encoding="utf-8") as out, ThreadPoolExecutor(16) as pool:
        for entry, doc in versions_of(bucket, entries, pool):
            source = doc.provenance
            if not source.warc or source.warc_offset is None:
                continue
            local = source.warc.replace("/", "__")
            if not (crawl_dir / "warc" / local).exists():
                bucket.download_file(source.warc, crawl_dir / "warc" / local)
            record = {
                "post_id": entry.post_id,
                "edition": entry.edition or "en",
                "url": entry.url,
                "aliases": entry.aliases,
                "translations": entry.translations,
                "status": "fetched",
                "warc_file": local,
                "warc_key": source.warc,
                "warc_offset": source.warc_offset,
                "warc_record_id": source.warc_record_id,
                "fetched_at": source.fetched_at,
                "http_status": source.http_status,
                "etag": entry.etag,
                "last_modified": entry.last_modified,
                "base_seq": head.seq,
                "reextract_of": entry.key,
            }
            out.write(json.dumps(record) + "\n")
    cleaned = workdir / "cleaned.jsonl.gz"
    stats = clean_run(crawl_dir / "records.jsonl", crawl_dir / "warc", cleaned, profile)
    bucket.upload_file(cleaned, layout.run_key(run_id, "cleaned.jsonl.gz"))
    return {"mode": "reclean", **stats.as_dict()}


def stage_commit(
    bucket: Bucket, run_id: str, workdir: Path, run_info: dict, profile: SiteProfile, **kwargs
) -> CommitResult:
    cleaned = workdir / "cleaned.jsonl.gz"
    if not cleaned.exists():
        workdir.mkdir(parents=True, exist_ok=True)
        bucket.download_file(layout.run_key(run_id, "cleaned.jsonl.gz"), cleaned)
    with gzip.open(cleaned, "rb") as handle:
        records = [
            decode(CleanedRecord, line, f"cleaned.jsonl.gz line {n}") for n, line in enumerate(handle, 1)
        ]
    crawl_state, staged = workdir / "crawl" / "state.jsonl", layout.run_key(run_id, "crawl/state.jsonl")
    if not crawl_state.exists() and bucket.exists(staged):  # a reclean run crawls nothing: no new marks
        crawl_state.parent.mkdir(parents=True, exist_ok=True)
        bucket.download_file(staged, crawl_state)
    high_water = CrawlState.load(crawl_state).high_water if crawl_state.exists() else {}
    return commit_run(bucket, run_id, records, run_info, high_water=high_water, profile=profile, **kwargs)


def run_once(
    bucket: Bucket, run_id: str, job: CrawlJob, workdir: Path, logger: logging.Logger | None = None
) -> dict:
    """crawl -> clean -> commit, returning a summary of every stage."""
    job.out = workdir / "crawl"
    crawl = stage_crawl(bucket, run_id, job, logger)
    profile = load_profile(job.profile, job.site)
    clean = stage_clean(bucket, run_id, workdir, profile)
    run_info = {
        "mode": job.mode,
        "site": profile.base_url,
        "editions": job.editions,
        "since": job.since,
        "after": job.after,
        "before": job.before,
    }
    result = stage_commit(bucket, run_id, workdir, run_info, profile)
    return {
        "run_id": run_id,
        "snapshot": result.seq,
        "created": result.created,
        "crawl": crawl["fetch"],
        "clean": clean,
        "counts": msgspec.to_builtins(result.manifest.counts),
        "versions_written": result.versions_written,
        "bytes_written": result.bytes_written,
        "crawl_stats": crawl,
    }
