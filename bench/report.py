"""Render bench/results.json (written by bench/run_all.py) as docs/performance.md.

uv run python bench/report.py     # also called by run_all.py at the end of a run
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def verdict(ok: bool) -> str:
    return "met" if ok else "**not met**"


def render(r: dict) -> str:
    b5 = r["backfill"]["5000"]
    stages = b5["stages"]
    peak = max(s["peak_rss_mb"] for s in stages.values())
    n5, u5, c5 = r["nightly"]["5000"], r["nightly_unchanged"]["5000"], r["reconcile"]["5000"]
    reads, clean, machine = r["reads"], r["clean_overhead"], r["machine"]
    rows = [
        (
            "Backfill, end to end (5,000 briefs: crawl → clean → commit)",
            f"{b5['pages_per_s']} pages/s ({b5['s']} s, median of {b5['reps']})",
            "≥ 40 pages/s",
            verdict(b5["pages_per_s"] >= 40),
        ),
        *[
            (
                f"— {name}",
                f"{s['pages_per_s']} pages/s, {s['s']} s, peak RSS {s['peak_rss_mb']} MB "
                f"(process tree {s['tree_rss_mb']} MB)",
                "",
                "",
            )
            for name, s in stages.items()
        ],
        ("Peak RSS of any one process", f"{peak} MB", "< 600 MB", verdict(peak < 600)),
        (
            "Clean stage vs bare trafilatura.extract (both cores)",
            f"ratio {clean['ratio']} "
            f"({clean['clean_pages_per_s']} vs {clean['bare_allcores_pages_per_s']} pages/s)",
            "≥ 0.8",
            verdict(clean["ratio"] >= 0.8),
        ),
        (
            "Nightly, 5 new + 2 edited + 1 renamed: discovery requests",
            str(n5["discovery_requests"]),
            "≤ 6",
            verdict(n5["discovery_requests"] <= 6),
        ),
        (
            "— article requests / 304s",
            f"{n5['article_requests']} / {n5['not_modified_304']}",
            "≤ 8",
            verdict(n5["article_requests"] <= 8),
        ),
        (
            "— new versions (per repetition)",
            ", ".join(map(str, n5["versions_each"])),
            "exactly 7",
            verdict(set(n5["versions_each"]) == {7}),
        ),
        (
            "— bytes written, wall time (median)",
            f"{n5['bytes_written']} B, {n5['s']} s",
            "wall < 60 s",
            verdict(n5["s"] < 60),
        ),
        (
            "Nightly with nothing changed: article objects written",
            str(u5["versions_written"]),
            "0",
            verdict(u5["versions_written"] == 0),
        ),
        (
            "Reconciliation, 1 removal: requests",
            f"{c5['requests']} (budget {c5['budget']})",
            "≤ ceil(N/1000) + 3",
            verdict(c5["requests"] <= c5["budget"]),
        ),
        ("— tombstones", str(c5["counts"]["gone"]), "exactly 1", verdict(c5["counts"]["gone"] == 1)),
        (
            "Point-in-time read of one article (cold)",
            f"{reads['article_cold_ms']} ms",
            "< 200 ms",
            verdict(reads["article_cold_ms"] < 200),
        ),
        ("History of one article", f"{reads['history_ms']} ms", "", ""),
        (
            f"Export of the {reads['articles']}-article snapshot: Parquet / JSONL",
            f"{reads['export_parquet_s']} s / {reads['export_jsonl_s']} s",
            "< 10 s",
            verdict(max(reads["export_parquet_s"], reads["export_jsonl_s"]) < 10),
        ),
    ]
    table = "\n".join(f"| {a} | {b} | {c} | {d} |" for a, b, c, d in rows)
    scaling = "\n".join(
        f"| {size} | {r['backfill'][size]['s']} s ({r['backfill'][size]['pages_per_s']} pages/s) | "
        f"{r['nightly'][size]['s']} s | {r['nightly'][size]['requests']} | {r['reconcile'][size]['requests']} "
        f"(budget {r['reconcile'][size]['budget']}) |"
        for size in r["backfill"]
    )
    return f"""# Performance

Measured by `uv run python bench/run_all.py` (writes `bench/results.json` and this page; about
{round(machine["seconds"] / 60)} minutes). Real servers on 127.0.0.1: SeaweedFS, the site simulator in its own
process; politeness off (no AutoThrottle, 16 connections); medians of 3 repetitions unless noted.
Machine: {machine["cpus"]} cores ({machine["cpu"]}), {machine["memory_gb"]} GB, Python {machine["python"]}.

| figure | measured | target | |
| --- | --- | --- | --- |
{table}

## Scaling with the archive's size

Nightly cost must stay flat (it depends on the changes, not the archive); a backfill grows linearly.

| briefs | backfill (crawl + clean + commit) | nightly wall | nightly requests | reconcile requests |
| --- | --- | --- | --- | --- |
{scaling}

Notes: the reconcile budget counts the archived briefs (N); the site's sitemaps also list its non-brief posts
(10% more in the simulator), so a reconcile costs ceil(sitemap URLs / 1000) + 3 requests: robots.txt, the sitemap
index, every post sitemap, and one check per removed post. Where that exceeds ceil(N/1000) + 3 it is by the
sitemap files that hold only non-brief posts; nothing else is requested. "nightly" is what the DAG's run for the last day does (window mode, published or modified in the data
interval plus one hour). The backfill runs each stage in its own process, as Airflow does; "peak RSS" is the
largest single process, "process tree" adds the crawler's Scrapy child or the clean stage's workers. Reads are
cold (a new reader: listing, manifest, index, version). The benchmark is not part of CI: CI asserts behaviour,
this page records speed.
"""


def main() -> None:
    results = json.loads((ROOT / "bench" / "results.json").read_text())
    (ROOT / "docs" / "performance.md").write_text(render(results))
    print("wrote docs/performance.md", file=sys.stderr)


if __name__ == "__main__":
    main()
