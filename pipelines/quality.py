"""The quality gate: every reason a run's output must not pass silently, as pure functions of the run's stats.

Two halves. Extraction (``quality_problems``): nothing extracted, empty bodies, leaked chrome, a sharp drop in
body length (layout drift). Discovery (``discovery_problems``): a surface that failed or was refused, no candidate
at all while the site answered and comparable runs usually find some, or far fewer candidates for an edition than in recent comparable runs (discovery
drift: a renamed category, a changed permalink shape). The recent history comes from the archive's own manifests.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from datetime import timedelta

from pipelines.settings import QualityThresholds

MIN_BASELINE = 8  # a median below this many candidates is too small to call a drop


@dataclass(frozen=True)
class History:
    """What recent runs looked like: mean body lengths, and candidates per edition of comparable runs."""

    mean_chars: list[float] = field(default_factory=list)
    candidates: dict[str, list[int]] = field(default_factory=dict)


def quality_problems(
    crawl_stats: dict,
    clean_stats: dict,
    commit_stats: dict,
    recent_mean_chars: list[float],
    thresholds: QualityThresholds,
) -> list[str]:
    """Extraction: every reason this run must fail (empty list: it passes)."""
    problems = []
    pages = clean_stats.get("pages", 0)
    fetched = sum((crawl_stats.get("fetch") or {}).get(k, 0) for k in ("fetched", "redirected"))
    if fetched and not clean_stats.get("cleaned"):
        problems.append(f"{fetched} pages fetched but nothing extracted")
    quality = clean_stats.get("quality", {})
    for flag, limit in (
        ("empty_body", thresholds.max_empty_rate),
        ("boilerplate_leak", thresholds.max_leak_rate),
    ):
        rate = quality.get(flag, 0) / pages if pages else 0.0
        if rate > limit:
            problems.append(f"{flag} on {rate:.0%} of {pages} pages (limit {limit:.0%})")
    mean = clean_stats.get("mean_chars")
    if mean and len(recent_mean_chars) >= 3 and pages >= 5:
        baseline = statistics.median(recent_mean_chars)
        if mean < thresholds.min_body_ratio * baseline:
            problems.append(
                f"mean body length {mean:.0f} chars against {baseline:.0f} in recent runs (layout drift?)"
            )
    if not commit_stats.get("snapshot"):
        problems.append("no snapshot was written")
    return problems


def discovery_problems(
    crawl_stats: dict, recent_candidates: dict[str, list[int]], thresholds: QualityThresholds
) -> list[str]:
    """Discovery: failed or refused surfaces, nothing found while the site answered, a drop against history.

    A surface skipped because the crawl state knows it fails (see ``spiders.editions``) is not a new failure:
    the run that first saw it failed already said so.
    """
    if crawl_stats.get("skipped"):
        return []
    problems = []
    surfaces: dict = crawl_stats.get("surfaces") or {}
    found: dict = crawl_stats.get("candidates_by_edition") or {}
    for edition, outcomes in sorted(surfaces.items()):
        for surface, outcome in sorted(outcomes.items()):
            if outcome.get("status") == "failed":
                problems.append(
                    f"edition {edition}: discovery surface {surface} failed ({outcome.get('reason')})"
                )
    answered = [
        f"{edition} {surface}"
        for edition, outcomes in sorted(surfaces.items())
        for surface, outcome in sorted(outcomes.items())
        if outcome.get("status") == "ok"
    ]
    usually = any(statistics.median(v) > 0 for v in recent_candidates.values() if len(v) >= 3)
    if surfaces and answered and not sum(found.values()) and usually:  # a quiet day is not a broken surface
        problems.append(f"no candidates found although the site answered ({', '.join(answered)})")
    for edition in sorted(surfaces):
        past = recent_candidates.get(edition) or []
        if len(past) < 3:
            continue
        baseline, now = statistics.median(past), found.get(edition, 0)
        if baseline >= MIN_BASELINE and now < thresholds.min_discovery_ratio * baseline:
            used = ", ".join(
                f"{s} {o.get('status')} ({o.get('found', 0)})" for s, o in sorted(surfaces[edition].items())
            )
            problems.append(
                f"edition {edition}: {now} candidates against a median of {baseline:.0f} in the last {len(past)} "
                f"comparable runs (discovery drift?); surfaces: {used}"
            )
    return problems


def history(bucket, seq: int | None, mode: str | None, window: timedelta, runs: int = 7) -> History:
    """The recent runs before snapshot `seq`, from their manifests: body lengths of runs that cleaned pages, and
    candidates per edition of runs with the same mode and window length."""
    from pipelines.verified import read_manifest

    mean_chars: list[float] = []
    candidates: dict[str, list[int]] = {}
    current, looked = (seq or 0) - 1, 0
    while current > 0 and looked < 4 * runs:
        manifest = read_manifest(bucket, current).manifest
        looked += 1
        run = manifest.run or {}
        clean_stats, crawl_stats = run.get("clean") or {}, run.get("crawl") or {}
        if len(mean_chars) < runs and clean_stats.get("mean_chars") and clean_stats.get("pages", 0) >= 5:
            mean_chars.append(clean_stats["mean_chars"])
        if crawl_stats.get("mode") == mode and _window(run) == window:
            for edition, count in (crawl_stats.get("candidates_by_edition") or {}).items():
                if isinstance(count, int) and len(candidates.setdefault(edition, [])) < runs:
                    candidates[edition].append(count)
        current = manifest.parent or 0
    return History(mean_chars, candidates)


def _window(run: dict) -> timedelta | None:
    from spiders.discovery import parse_time

    bounds = run.get("window")
    if not isinstance(bounds, list) or len(bounds) != 2:
        return None
    start, end = (parse_time(v) for v in bounds)
    return end - start if start and end else None
