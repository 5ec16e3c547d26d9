"""Delta table benchmark against a real SeaweedFS on 127.0.0.1; prints one JSON line.

    uv run --with pandas python bench/delta.py --articles 5000 --changes 7

Builds an N-article snapshot (records as in bench/store.py, no crawl), publishes it (the first publish), then a
nightly snapshot with `--changes` edited articles and times its publish (what the DAG task costs each night).
Then reads snapshot 2 whole into pandas two ways: from the Delta table (each article's latest version with
``committed_in <= 2``, live only) and through `briefs export` (``export_snapshot`` to Parquet, then
``pandas.read_parquet``), and checks that both hold the same articles and versions.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.store import bench_bucket, edited, records, timed  # noqa: E402
from pipelines.archive import Archive  # noqa: E402
from pipelines.commit import commit_run  # noqa: E402
from pipelines.delta import VersionsTable, publish  # noqa: E402
from pipelines.export import export_snapshot  # noqa: E402
from pipelines.storage import Bucket  # noqa: E402


def delta_snapshot(bucket: Bucket, seq: int):
    """Snapshot `seq` from the table, into pandas: each article's latest version committed by then, live."""
    import polars as pl

    table = VersionsTable(bucket).load().to_pyarrow_table(filters=[("committed_in", "<=", seq)])
    latest = pl.col("version") == pl.col("version").max().over("article_id")
    return pl.from_arrow(table).filter(latest).filter(pl.col("status") == "live").to_pandas()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--articles", type=int, default=5000)
    parser.add_argument("--changes", type=int, default=7)
    args = parser.parse_args()
    import pandas as pd

    rows = records(args.articles)
    with bench_bucket() as (bucket, tmp):
        commit_run(bucket, "bench-1", rows, {"mode": "bench"})
        first, first_s = timed(lambda: publish(bucket))
        night = commit_run(bucket, "bench-2", edited(rows, args.changes), {"mode": "bench"})
        nightly, nightly_s = timed(lambda: publish(bucket))
        again, again_s = timed(lambda: publish(bucket))
        assert again.snapshots == [], "a repeated publish adds nothing"
        delta_df, delta_s = timed(lambda: delta_snapshot(bucket, 2))
        parquet = tmp / "snapshot.parquet"
        _, export_s = timed(lambda: export_snapshot(Archive(bucket), 2, parquet, "parquet"))
        export_df, read_s = timed(lambda: pd.read_parquet(parquet))
        same = sorted(zip(delta_df["article_id"], delta_df["version"], strict=True)) == sorted(
            zip(export_df["article_id"], export_df["version"], strict=True)
        )
    print(
        json.dumps(
            {
                "bench": "delta",
                "articles": len(rows),
                "nightly_changes": night.manifest.counts.changed + night.manifest.counts.new,
                "publish_first_s": round(first_s, 2),
                "publish_first_rows": first.rows,
                "publish_nightly_s": round(nightly_s, 2),
                "publish_nightly_rows": nightly.rows,
                "publish_noop_s": round(again_s, 2),
                "read_snapshot_delta_pandas_s": round(delta_s, 2),
                "read_snapshot_export_parquet_s": round(export_s + read_s, 2),
                "read_snapshot_export_only_s": round(export_s, 2),
                "read_snapshot_rows": len(delta_df),
                "same_rows": same,
            }
        )
    )


if __name__ == "__main__":
    main()
