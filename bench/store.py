"""Storage benchmark against a real SeaweedFS on 127.0.0.1; prints one JSON line.

    uv run python bench/store.py --articles 5000

Measures: a commit of N cleaned records; a second commit in which nothing changed (target: 0 article objects);
a night with 7 edits (bytes written, manifest included: the index delta keeps it flat as the archive grows);
a cold point-in-time read of one article (target < 200 ms; median of 20); exports of the N-article snapshot to
Parquet and gzip JSONL (target < 10 s each). Records are built from simulated briefs without crawling, so the
figures are the storage layer's own.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from infra.seaweedfs import SeaweedFS, free_port_block  # noqa: E402
from infra.simulator import Site  # noqa: E402
from pipelines import layout  # noqa: E402
from pipelines.archive import Archive  # noqa: E402
from pipelines.clean import extractor, fingerprint  # noqa: E402
from pipelines.commit import commit_run  # noqa: E402
from pipelines.export import export_snapshot  # noqa: E402
from pipelines.settings import Settings  # noqa: E402
from pipelines.storage import Bucket  # noqa: E402
from spiders.sites import load_profile  # noqa: E402

BASE = "https://insightcrime.org"


def records(count: int) -> list[dict]:
    site = Site(posts=count)
    rows = []
    for post in site.live()[:count]:
        text = "\n\n".join(re.sub(r"<[^>]+>", "", b) for b in post.body_html().split("\n\n\n\n"))
        meta = {
            "title": post.title,
            "authors": post.authors,
            "published": post.published.isoformat(),
            "modified": post.modified.isoformat(),
            "section": post.category,
            "tags": post.tags,
            "countries": post.tags[:1],
            "language": post.lang,
            "canonical_url": BASE + post.path,
            "translations": {},
        }
        rows.append(
            {
                "post_id": post.id,
                "edition": post.lang,
                "url": BASE + post.path,
                "aliases": [],
                "translations": {},
                "status": "fetched",
                "text": text,
                "markdown": text,
                "metadata": meta,
                "fingerprint": fingerprint(text, post.title, post.authors, meta["published"]),
                "extractor": extractor(load_profile()),
                "quality": [],
                "etag": post.etag,
                "fetched_at": "2026-11-20T06:00:00Z",
                "warc_file": "bench.warc.gz",
                "warc_offset": 0,
                "http_status": 200,
            }
        )
    return rows


def edited(rows: list[dict], count: int) -> list[dict]:
    """`count` articles edited a day later: a typical night (a paragraph appended, a newer modified time)."""
    changed = []
    for row in rows[:count]:
        text = row["text"] + "\n\nUpdate: this article was updated."
        meta = row["metadata"] | {"modified": "2026-11-21T05:00:00+00:00"}
        digest = fingerprint(text, meta["title"], meta["authors"], meta["published"])
        changed.append(
            row
            | {"text": text, "markdown": text, "metadata": meta, "fingerprint": digest}
            | {"fetched_at": "2026-11-21T06:00:00Z"}
        )
    return changed


def timed(fn):
    started = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - started


@contextmanager
def bench_bucket() -> Iterator[tuple[Bucket, Path]]:
    """A bucket on a SeaweedFS of its own (127.0.0.1, credentials enforced), and a scratch directory."""
    with tempfile.TemporaryDirectory() as tmp:
        server = SeaweedFS(Path(tmp) / "weed", s3_port=free_port_block() + 3).start()
        try:
            bucket = Bucket(Settings.from_env(server.env("bench"), local_stack=False).storage)
            bucket.ensure_bucket()
            yield bucket, Path(tmp)
        finally:
            server.stop()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--articles", type=int, default=5000)
    args = parser.parse_args()
    rows = records(args.articles)
    with bench_bucket() as (bucket, tmp):
        first, first_s = timed(lambda: commit_run(bucket, "bench-1", rows, {"mode": "bench"}))
        second, second_s = timed(lambda: commit_run(bucket, "bench-2", rows, {"mode": "bench"}))
        night, night_s = timed(lambda: commit_run(bucket, "bench-3", edited(rows, 7), {"mode": "bench"}))
        quiet = commit_run(bucket, "bench-4", [], {"mode": "bench"})  # a night that saw nothing
        ids = random.Random(1).sample([r["post_id"] for r in rows], 20)
        reads = [timed(lambda i=i: Archive(bucket).article(i, at=1))[1] for i in ids]
        delta_reads = [timed(lambda i=i: Archive(bucket).article(i, at=3))[1] for i in ids]
        warm = Archive(bucket)
        warm.article(ids[0], at=1)
        warm_reads = [timed(lambda i=i: warm.article(i, at=1))[1] for i in ids]
        history_s = statistics.median(timed(lambda i=i: Archive(bucket).history(i))[1] for i in ids[:5])
        archive = Archive(bucket)
        parquet_rows, parquet_s = timed(lambda: export_snapshot(archive, 2, tmp / "a.parquet", "parquet"))
        jsonl_rows, jsonl_s = timed(lambda: export_snapshot(archive, 2, tmp / "a.jsonl.gz", "jsonl"))
        bucket_manifest_bytes = bucket.get(layout.snapshot_key(3))
        quiet_manifest_bytes = bucket.get(layout.snapshot_key(4))
    print(
        json.dumps(
            {
                "bench": "store",
                "articles": len(rows),
                "commit_s": round(first_s, 2),
                "commit_objects": first.objects_written,
                "commit_bytes": first.bytes_written,
                "unchanged_commit_s": round(second_s, 2),
                "unchanged_article_objects": second.versions_written,
                "unchanged_objects": second.objects_written,
                "unchanged_bytes": second.bytes_written,
                "nightly7_s": round(night_s, 2),
                "nightly7_versions": night.versions_written,
                "nightly7_bytes": night.bytes_written + len(bucket_manifest_bytes),
                "nightly7_index_deltas": len(night.manifest.index_deltas),
                "quiet_bytes_besides_manifest": quiet.bytes_written,
                "quiet_manifest_bytes": len(quiet_manifest_bytes),
                "read_cold_ms_median": round(statistics.median(reads) * 1000, 1),
                "read_cold_with_delta_ms_median": round(statistics.median(delta_reads) * 1000, 1),
                "read_warm_ms_median": round(statistics.median(warm_reads) * 1000, 1),
                "history_ms_median": round(history_s * 1000, 1),
                "export_parquet_s": round(parquet_s, 2),
                "export_parquet_rows": parquet_rows,
                "export_jsonl_s": round(jsonl_s, 2),
                "export_jsonl_rows": jsonl_rows,
            }
        )
    )


if __name__ == "__main__":
    main()
