"""Each run's summary, visible in Airflow's UI without opening a log.

The ``report`` task runs whatever became of the run (trigger rule ``all_done``) and folds the tasks' results into
one flat dict: discovered, fetched, 304s, failures by reason, new/edited/removed, bytes written, the quality
verdict. It is shown three ways: as the extra of an event on the Asset alias ``insight_briefs_runs`` (the UI's
Assets view, and the run's Asset events; an Asset event's extra is what Airflow 3's UI renders for a task), as
the ``report`` task's XCom, and in ``runs/{run_id}/report.json``. It also goes to the metrics backend
(``pipelines.metrics``) and, when success summaries are on, to the alert webhook.
Light: the DAG file imports this module for the alias.
"""

from __future__ import annotations

import gzip
import re
from collections import Counter
from pathlib import Path

from airflow.sdk import Asset, AssetAlias

GROUP = "insight-briefs"
RUNS = AssetAlias(name="insight_briefs_runs", group=GROUP)
CHANGES = ("new", "changed", "removed", "aliased", "superseded", "unchanged", "rejected_empty")


def reason_class(reason: str | None) -> str:
    """A short, stable, metric-safe class of a one-line failure reason: ``HTTP 503 after retries`` ->
    ``http_503``, ``connection failed: ...`` -> ``connection_failed``, ``timed out`` -> ``timed_out``."""
    text = (reason or "").strip()
    status = re.match(r"HTTP ([0-9]{3})", text)
    if status:
        return f"http_{status.group(1)}"
    head = text.split(":", 1)[0].lower()
    slug = re.sub(r"[^a-z0-9]+", "_", head).strip("_")[:40].strip("_")
    return slug or "unknown"


def failures_by_reason(cleaned: Path) -> dict[str, int]:
    """Failed observations of a run's cleaned records (crawl and clean failures alike), counted by class."""
    import msgspec

    class Outcome(msgspec.Struct):
        status: str
        reason: str | None = None

    decoder = msgspec.json.Decoder(Outcome)
    counts: Counter[str] = Counter()
    with gzip.open(cleaned, "rb") as handle:
        for line in handle:
            outcome = decoder.decode(line)
            if outcome.status == "failed":
                counts[reason_class(outcome.reason)] += 1
    return dict(sorted(counts.items()))


def build(
    run: dict, crawl: dict | None, clean: dict | None, commit: dict | None, verdict: dict | None
) -> dict:
    """The flat summary (what the UI shows) of one run; each missing part (a task that failed) reads as None."""
    crawl, clean, commit = crawl or {}, clean or {}, commit or {}
    fetch = crawl.get("fetch") or {}
    counts = commit.get("counts") or {}
    failed = clean.get("failed_by_reason")
    summary = {
        **run,
        "discovered": crawl.get("candidates"),
        "fetched": (fetch.get("fetched", 0) + fetch.get("redirected", 0)) if fetch else None,
        "not_modified": fetch.get("not_modified", 0) if fetch else None,
        "failed": sum(failed.values()) if failed is not None else fetch.get("failed"),
        "failed_by_reason": failed,
        **{kind: counts.get(kind) for kind in CHANGES},
        "snapshot": commit.get("snapshot"),
        "outcome": commit.get("outcome"),
        "bytes_written": commit.get("bytes_written"),
        "quality": _verdict(verdict, commit),
    }
    if crawl.get("skipped"):
        summary["mode"] = crawl["skipped"]
    return summary


def _verdict(verdict: dict | None, commit: dict) -> str:
    if verdict is None:
        return "not checked (the commit failed)" if not commit else "not checked (verify did not report)"
    if verdict.get("passed"):
        return "passed"
    return "failed: " + "; ".join(verdict.get("problems") or ["see the verify task"])


def emit(context: dict, storage_uri: str, summary: dict) -> None:
    """One event on the runs alias, on the Asset ``{archive}/runs``: recorded when the report task succeeds."""
    asset = Asset(uri=f"{storage_uri.rstrip('/')}/runs", group=GROUP)
    context["outlet_events"][RUNS].add(asset, extra=summary)
