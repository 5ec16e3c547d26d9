"""Run outputs: ``records.jsonl`` (one record per article, merged by post id), ``state.jsonl`` (the crawl state
for the next run) and ``stats.json`` (counts per discovery surface and outcome).

Records are kept in memory and written at the end, sorted, so a run's output is deterministic and a post reached
through two URLs yields one record with both as aliases.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from scrapy import signals

from .discovery import parse_time
from .state import CrawlState, KnownPost

_PRECEDENCE = {"fetched": 4, "redirected": 4, "not_modified": 3, "gone": 2, "failed": 1}


class RecordWriter:
    """Item pipeline: merge, then write records and the next crawl state when the spider closes."""

    def __init__(self, crawler):
        self.crawler = crawler
        self.out = Path(crawler.settings.get("BRIEFS_OUT", "crawl-out"))
        self.records: dict[object, dict] = {}

    @classmethod
    def from_crawler(cls, crawler):
        return cls(crawler)

    def process_item(self, item: dict) -> dict:
        key = (item["edition"], item["post_id"]) if item["post_id"] is not None else item["url"]
        previous = self.records.get(key)
        if previous is not None:
            self.crawler.stats.inc_value("briefs/merged_duplicates")
            keep, other = sorted((previous, item), key=lambda r: _PRECEDENCE[r["status"]], reverse=True)
            keep["aliases"] = sorted(
                (set(keep["aliases"]) | set(other["aliases"]) | {other["url"]}) - {keep["url"]}
            )
            item = keep
        self.records[key] = item
        return item

    def close_spider(self) -> None:
        self.out.mkdir(parents=True, exist_ok=True)
        rows = sorted(self.records.values(), key=lambda r: (r["post_id"] or 0, r["url"]))
        with open(self.out / "records.jsonl", "w", encoding="utf-8") as handle:
            for row in rows:
                handle.write(json.dumps(row, ensure_ascii=False, sort_keys=True) + "\n")
        spider = self.crawler.spider
        # A run narrowed by a category override saw only part of the scope: it must not move the marks.
        mode = "window" if spider.categories else spider.mode
        state = next_state(spider.state, rows, mode, spider.editions)
        state.strategies.update(spider.strategies)
        state.save(self.out / "state.jsonl")


def next_state(
    state: CrawlState,
    records: list[dict],
    mode: str,
    editions: list[str],
    now: datetime | None = None,
) -> CrawlState:
    """Fold this run's records into the state (in place; returned too). A pure function: no crawler needed.

    Nightly and reconcile runs see everything modified up to their newest record, so they raise the edition's
    high-water mark to it; a window run (a backfill of the past) does not. Failed records and records without a
    post id change nothing; ``base_seq`` stays the one the run was given.
    """
    seen_at = (now or datetime.now(UTC)).isoformat(timespec="seconds")
    for record in records:
        if record["post_id"] is None or record["status"] == "failed":
            continue
        post = state.posts.get(record["post_id"]) or KnownPost(
            record["post_id"], record["edition"], record["url"]
        )
        post.aliases = sorted((set(post.aliases) | set(record["aliases"]) | {post.url}) - {record["url"]})
        post.url, post.last_seen = record["url"], seen_at
        post.gone = record["status"] == "gone"
        if record["status"] in ("fetched", "redirected"):
            post.etag, post.last_modified, post.modified = (
                record["etag"],
                record["last_modified"],
                record["modified"],
            )
        state.posts[post.post_id] = post
        modified = parse_time(record.get("modified"))
        mark = parse_time(state.high_water.get(record["edition"]))
        if mode in ("nightly", "reconcile") and modified and (mark is None or modified > mark):
            state.high_water[record["edition"]] = modified.isoformat(timespec="seconds")
    return state


class StatsWriter:
    """Extension: write the run's stats as JSON when the spider closes (after every pipeline)."""

    def __init__(self, crawler):
        self.crawler = crawler
        crawler.signals.connect(self.write, signal=signals.spider_closed)

    @classmethod
    def from_crawler(cls, crawler):
        return cls(crawler)

    def write(self, spider, reason: str) -> None:
        out = Path(self.crawler.settings.get("BRIEFS_OUT", "crawl-out"))
        out.mkdir(parents=True, exist_ok=True)
        stats = {
            k: (v.isoformat() if isinstance(v, datetime) else v)
            for k, v in self.crawler.stats.get_stats().items()
        }
        summary = {
            "mode": spider.mode,
            "site": spider.base_url,
            "editions": spider.editions,
            "finish_reason": reason,
            "discovered": _group(stats, "briefs/discovered/"),
            "discovery_requests": _group(stats, "briefs/discovery_requests/"),
            "fetch": _group(stats, "briefs/fetch/"),
            "problems": _group(stats, "briefs/problems/"),
            "bad_post_id": _group(stats, "briefs/bad_post_id/"),
            "candidates": stats.get("briefs/candidates", 0),
            "candidates_by_edition": {
                e: stats.get(f"briefs/candidates_by_edition/{e}", 0) for e in spider.editions
            },
            "surfaces": spider.surface_report(),
            "strategy": {
                e: s.as_dict() | {"paging": spider.paging.get(e)} for e, s in spider.strategies.items()
            },
            "warc_responses": stats.get("briefs/warc/responses", 0),
            "scrapy": stats,
        }
        (out / "stats.json").write_text(json.dumps(summary, indent=2, sort_keys=True, default=str))


def _group(stats: dict, prefix: str) -> dict:
    return {k[len(prefix) :]: v for k, v in sorted(stats.items()) if k.startswith(prefix)}
