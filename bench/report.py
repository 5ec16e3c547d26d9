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
    tombstones = c5["counts"].get(
        "removed", c5["counts"]["gone"]
    )  # this run's; "gone" is the archive's total
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
        *large_backfill_rows(r["backfill"].get("20000")),
        *peer_rows(r.get("peers")),
        (
            "Clean stage vs bare trafilatura.extract (both cores)",
            f"ratio {clean['ratio']} "
            f"({clean['clean_pages_per_s']} vs {clean['bare_allcores_pages_per_s']} pages/s"
            f"{', rounds ' + ', '.join(map(str, clean['ratios'])) if 'ratios' in clean else ''})",
            "≥ 0.95",
            verdict(clean["ratio"] >= 0.95),
        ),
        (
            "Nightly, 5 new + 2 edited + 1 renamed: discovery requests",
            str(n5["discovery_requests"]),
            "≤ 7",
            verdict(n5["discovery_requests"] <= 7),
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
        *naive_rows(n5, b5.get("full_crawl")),
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
        ("— tombstones", str(tombstones), "exactly 1", verdict(tombstones == 1)),
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
        *integrity_rows(r.get("integrity")),
        *probe_rows(r.get("probe")),
        *derived_rows(r.get("derived")),
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
Machine: {machine["cpus"]} cores ({machine["cpu"]}), {machine["memory_gb"]} GB, Python {machine["python"]}.{rerun_note(r)}

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
sitemap files that hold only non-brief posts; nothing else is requested. "nightly" is what the DAG's run for the
last day does (window mode, published or modified in the data interval plus one hour); its discovery is robots.txt
and, per edition, the brief categories' ids (read afresh each run, so a new subcategory is never missed), the posts
published in the window and those modified in it (asked apart: a scheduled post goes live without a new
`modified`): 7 requests for two editions. The budget was 6 before the category lookup of the live-site work. The backfill runs each stage in its own process, as Airflow does; "peak RSS" is the
largest single process, "process tree" adds the crawler's Scrapy child or the clean stage's workers. Reads are
cold (a new reader: listing, manifest, index, version). The benchmark is not part of CI: CI asserts behaviour,
this page records speed.{integrity_note(r.get("integrity"))}{peers_section(r.get("peers"))}

The running stacks' figures (idle memory of the default and the distributed stack, restart time after a
`kill -9`, `down`, the 7-day backfill on one vs two Celery workers) were measured on running stacks (restart and
`down` times are printed by `tests/test_stack.py`) and are recorded in [stack.md](stack.md#figures) and
[production.md](production.md#figures): they need a whole Airflow stack, which this benchmark does not start.
"""


def large_backfill_rows(b: dict | None) -> list[tuple[str, str, str, str]]:
    """Where the time of a 20,000-brief backfill goes, and the commit's memory at that size."""
    if not b:
        return []
    rows = [
        (
            "Backfill of 20,000 briefs, end to end",
            f"{b['pages_per_s']} pages/s ({b['s']} s for {b['pages']:,} pages)",
            "",
            "",
        )
    ]
    for name, stage in b["stages"].items():
        share = round(100 * stage["s"] / b["s"])
        rows.append(
            (
                f"— {name}",
                f"{stage['s']} s ({share}% of the time), {stage['pages_per_s']} pages/s, peak RSS "
                f"{stage['peak_rss_mb']} MB (process tree {stage['tree_rss_mb']} MB)",
                "< 600 MB" if name == "commit" else "",
                verdict(stage["peak_rss_mb"] < 600) if name == "commit" else "",
            )
        )
    return rows


def peer_rows(p: dict | None) -> list[tuple[str, str, str, str]]:
    """bench/peers.py: the crawl against plain Scrapy + warcio on the same simulator and URLs."""
    if not p:
        return []
    ours, peer = p["crawlers"]["this project"], p["crawlers"]["scrapy+warcio"]
    return [
        (
            f"Crawl vs plain Scrapy + warcio ({p['urls']:,} URLs, {p['posts']:,} briefs)",
            f"ratio {ours['vs_scrapy_warcio']} ({ours['pages_per_s']} vs {peer['pages_per_s']} pages/s)",
            "≥ 0.9",
            verdict(ours["vs_scrapy_warcio"] >= 0.9),
        ),
        (
            "— crawler peak RSS (process tree)",
            f"{ours['peak_rss_mb']} MB",
            "< 300 MB",
            verdict(ours["peak_rss_mb"] < 300),
        ),
    ]


def naive_rows(nightly: dict, full: dict | None) -> list[tuple[str, str, str, str]]:
    """The nightly run against fetching every brief again (the backfill's crawl: a naive nightly)."""
    if not full or "response_bytes" not in nightly:
        return []
    return [
        (
            "— vs a naive full re-crawl: requests, bytes received",
            f"{nightly['requests']} vs {full['requests']:,} "
            f"(× {nightly['requests'] / full['requests']:.4f}), "
            f"{nightly['response_bytes']:,} vs {full['response_bytes']:,} B "
            f"(× {nightly['response_bytes'] / full['response_bytes']:.4f})",
            "",
            "",
        )
    ]


def peers_section(p: dict | None) -> str:
    if not p:
        return ""
    rows = "\n".join(
        f"| {name} | {c['pages_per_s']} ({', '.join(map(str, c['each_pages_per_s']))}) | {c['cpu_ms_per_page']} | "
        f"{c['peak_rss_mb']} MB | {c['vs_scrapy_warcio']} |"
        for name, c in p["crawlers"].items()
    )
    return f"""

## The crawler against its peers

`bench/peers.py`: one simulator process with {p["posts"]:,} briefs; every crawler fetches the same {p["urls"]:,}
article URLs with 16 connections, in its own process, {p["reps"]} interleaved repetitions (medians). This project
also discovers them (robots.txt, sitemaps), writes WARC with request and response records and keeps a record per
page; plain Scrapy parses each page's title; the warcio peer adds a minimal middleware writing each exchange with
`write_request_response_pair`; the asyncio client (aiohttp) only reads the bodies: the simulator's practical limit.
Pages/s count the whole process, start-up included; CPU is the crawler process's user + system time.

| crawler | pages/s (each run) | CPU ms per page | peak RSS | vs Scrapy + warcio |
| --- | --- | --- | --- | --- |
{rows}"""


def rerun_note(r: dict) -> str:
    """Sections measured again on their own (`run_all.py --only NAME`) since the full run."""
    if not r.get("rerun"):
        return ""
    again = ", ".join(f"`{name}` on {day}" for name, day in sorted(r["rerun"].items()))
    return f"\nRe-measured alone with `--only` since the full run: {again}."


def derived_rows(d: dict | None) -> list[tuple[str, str, str, str]]:
    """The index delta, the Delta table and the WACZ (absent from results of runs before they existed)."""
    if not d:
        return []
    small, large, delta, wacz = d["store"]["5000"], d["store"]["20000"], d["delta"], d["wacz"]
    ratio = large["nightly7_bytes"] / small["nightly7_bytes"]
    return [
        (
            "Night with 7 edits: bytes written, 5,000 vs 20,000 articles (versions, index delta, manifest)",
            f"{small['nightly7_bytes']:,} vs {large['nightly7_bytes']:,} B (× {ratio:.2f})",
            "≤ 1.2×",
            verdict(ratio <= 1.2),
        ),
        (
            "Night with no change, 20,000 articles: bytes besides the manifest",
            f"{large['quiet_bytes_besides_manifest']} (manifest {large['quiet_manifest_bytes']:,} B)",
            "0",
            verdict(large["quiet_bytes_besides_manifest"] == 0),
        ),
        (
            "Cold point-in-time read, 20,000 articles (plain / with an index delta)",
            f"{large['read_cold_ms_median']} / {large['read_cold_with_delta_ms_median']} ms (median of 20)",
            "< 200 ms",
            verdict(max(large["read_cold_ms_median"], large["read_cold_with_delta_ms_median"]) < 200),
        ),
        (
            f"Publish to Delta: a night of {delta['nightly_changes']} changes / the first 5,000 rows",
            f"{delta['publish_nightly_s']} s / {delta['publish_first_s']} s",
            "",
            "",
        ),
        (
            "Snapshot of 5,000 into pandas: from Delta vs `briefs export` Parquet + read",
            f"{delta['read_snapshot_delta_pandas_s']} s vs {delta['read_snapshot_export_parquet_s']} s "
            f"(same rows: {delta['same_rows']})",
            "",
            "",
        ),
        (
            f"WACZ of a run ({wacz['pages']} pages): build time / crawl time",
            f"{wacz['wacz_s']} s / {wacz['crawl_s']} s = {wacz['wacz_over_crawl']}",
            "",
            "",
        ),
    ]


def probe_rows(p: dict | None) -> list[tuple[str, str, str, str]]:
    """bench/probe.py's figures: `briefs probe` must cost the same few requests whatever the site's size."""
    if not p:
        return []
    rows = []
    for wordpress in ("multilingual", "vanilla"):
        small, large = p[f"{wordpress}-500"], p[f"{wordpress}-5000"]
        rows.append(
            (
                f"`briefs probe`, {wordpress} WordPress: requests (500 / 5,000 posts), time",
                f"{small['probe_requests']} / {large['probe_requests']}, {large['probe_s']} s, verdict "
                f"{large['verdict']}",
                "same at any size",
                verdict(small["probe_requests"] == large["probe_requests"] and large["verdict"] == "ok"),
            )
        )
    return rows


def integrity_rows(i: dict | None) -> list[tuple[str, str, str, str]]:
    """bench/integrity.py's figures (absent from results of runs before it existed)."""
    if not i:
        return []
    damage = i["verify_full_missing"] + i["verify_full_mismatched"]
    full_s = max(i["verify_full_s"], i["verify_full_cli_s"])
    segfaults = i.get("verify_full_cli_segfaults", 0)
    crashed = f", after {segfaults} attempts that crashed (SIGSEGV)" if segfaults else ""
    cpu = f", client CPU {i['verify_full_cpu_s']} s" if "verify_full_cpu_s" in i else ""
    return [
        (
            f"Commit + verify of {i['articles']:,} articles vs the commit at {i['baseline_rev']}",
            f"ratio {i['ratio']} ({i['commit_s']} s + {i['verify_s']} s = {i['commit_verify_s']} s vs "
            f"{i['baseline_commit_s']} s, medians of {i['reps']})",
            "≤ 1.2×",
            verdict(i["ratio"] <= 1.2),
        ),
        (
            f"`briefs verify --full` of {i['full_articles']:,} articles ({i['full_snapshots']} snapshots, "
            f"{i['full_versions']:,} versions)",
            f"{i['verify_full_s']} s{cpu} ({i['verify_full_cli_s']} s as a new process{crashed}); "
            f"{i['verify_full_checked']:,} checked, {i['verify_full_missing']} missing, "
            f"{i['verify_full_mismatched']} mismatched",
            "< 60 s, no damage",
            verdict(full_s < 60 and damage == 0 and not segfaults),
        ),
        (
            f"Point-in-time read of one article (cold, verified), {i['articles']:,} articles",
            f"{i['read_cold_ms']} ms",
            "< 200 ms",
            verdict(i["read_cold_ms"] < 200),
        ),
        (
            f"— the same at {i['full_articles']:,} articles (the whole index is decoded and checked)",
            f"{i['full_read_cold_ms']} ms",
            "",
            "",
        ),
        (
            f"— `briefs gc` dry run, {i['full_articles']:,} articles",
            f"{i['gc_dry_run_s']} s ({i['gc_candidates']} candidates)",
            "",
            "",
        ),
    ]


def integrity_note(i: dict | None) -> str:
    if not i:
        return ""
    loads = f"{i['loadavg_start']} at the start, {i.get('loadavg_compared', '?')} after the comparison"
    return f"""

Integrity figures come from `bench/integrity.py`, on records built from simulated briefs (not crawled).
"Commit + verify" is `commit_run` plus the check the DAG runs after each commit (`verify` of the new
snapshot), against the commit of the code before the integrity redesign (revision {i["baseline_rev"]}), run
from a git worktree of it in the same run and on the same SeaweedFS, alternating with the new one, each into
a fresh bucket. The large archive is a backfill and two runs that edit 5% and remove 1% of it; reads there
are at its first snapshot. "Client CPU" is the benchmark process's own CPU time (SeaweedFS excluded).
1-minute load average during that run: {loads}, {i["loadavg_end"]} at the end."""


def main() -> None:
    results = json.loads((ROOT / "bench" / "results.json").read_text())
    (ROOT / "docs" / "performance.md").write_text(render(results))
    print("wrote docs/performance.md", file=sys.stderr)


if __name__ == "__main__":
    main()
