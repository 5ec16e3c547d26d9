"""The quality gate without servers: every reason a run must fail, and nothing else."""

from __future__ import annotations

from pipelines.quality import discovery_problems, quality_problems
from pipelines.settings import QualityThresholds

GATE = QualityThresholds()
CRAWLED = {"fetch": {"fetched": 40, "redirected": 2}}
COMMITTED = {"snapshot": 7}


def clean(pages: int = 42, cleaned: int = 42, mean: float = 2400.0, **quality: int) -> dict:
    return {"pages": pages, "cleaned": cleaned, "mean_chars": mean, "quality": quality}


def test_a_good_run_passes():
    assert (
        quality_problems(
            CRAWLED, clean(empty_body=2, boilerplate_leak=1), COMMITTED, [2300, 2500, 2450], GATE
        )
        == []
    )


def test_nothing_extracted_fails():
    (problem,) = quality_problems(CRAWLED, clean(cleaned=0, mean=0), COMMITTED, [], GATE)
    assert problem == "42 pages fetched but nothing extracted"


def test_rates_above_the_limits_fail_and_the_limits_are_settings():
    problems = quality_problems(CRAWLED, clean(empty_body=10, boilerplate_leak=3), COMMITTED, [], GATE)
    assert problems == [
        "empty_body on 24% of 42 pages (limit 20%)",
        "boilerplate_leak on 7% of 42 pages (limit 5%)",
    ]
    lenient = QualityThresholds(max_empty_rate=0.5, max_leak_rate=0.1)
    assert quality_problems(CRAWLED, clean(empty_body=10, boilerplate_leak=3), COMMITTED, [], lenient) == []


def test_a_sharp_drop_in_body_length_fails_only_with_enough_history():
    short = clean(mean=900.0)
    assert quality_problems(CRAWLED, short, COMMITTED, [2400, 2500], GATE) == [], "two runs are no baseline"
    (problem,) = quality_problems(CRAWLED, short, COMMITTED, [2400, 2500, 2300], GATE)
    assert problem.startswith("mean body length 900 chars against 2400")
    assert quality_problems(CRAWLED, clean(pages=4, cleaned=4, mean=900.0), COMMITTED, [2400] * 3, GATE) == []


def test_no_snapshot_fails():
    assert quality_problems({"fetch": {}}, clean(pages=0, cleaned=0, mean=0), {}, [], GATE) == [
        "no snapshot was written"
    ]


def surfaces(**by_edition: dict) -> dict:
    """{edition: {surface: (status, found)}} -> the crawl's ``surfaces`` stats."""
    return {
        edition: {
            s: {"status": st, "reason": "HTTP 403" if st == "failed" else None, "found": n}
            for s, (st, n) in outcomes.items()
        }
        for edition, outcomes in by_edition.items()
    }


def test_discovery_passes_when_surfaces_answer_and_counts_are_usual():
    stats = {
        "surfaces": surfaces(en={"rest": ("ok", 30)}, es={"rest": ("ok", 9)}),
        "candidates_by_edition": {"en": 30, "es": 9},
    }
    assert discovery_problems(stats, {"en": [28, 31, 35], "es": [10, 8, 12]}, GATE) == []


def test_a_failed_or_refused_surface_fails_naming_edition_and_surface():
    stats = {
        "surfaces": surfaces(en={"rest": ("ok", 30)}, es={"rest": ("failed", 0), "rss": ("ok", 9)}),
        "candidates_by_edition": {"en": 30, "es": 9},
    }
    assert discovery_problems(stats, {}, GATE) == ["edition es: discovery surface rest failed (HTTP 403)"]
    known = {
        "surfaces": surfaces(es={"rest": ("skipped", 0), "rss": ("ok", 9)}),
        "candidates_by_edition": {"es": 9},
    }
    assert discovery_problems(known, {}, GATE) == [], "a surface known to fail is skipped, not a new failure"


def test_no_candidates_while_the_site_answered_fails_unless_such_windows_are_usually_quiet():
    stats = {"surfaces": surfaces(en={"rest": ("ok", 0)}), "candidates_by_edition": {"en": 0}}
    (problem,) = discovery_problems(stats, {"en": [3, 2, 4]}, GATE)
    assert problem == "no candidates found although the site answered (en rest)"
    assert discovery_problems(stats, {}, GATE) == [], "no history: a quiet day proves nothing"
    assert discovery_problems(stats, {"en": [0, 1, 0]}, GATE) == [], "such windows are usually empty"


def test_far_fewer_candidates_than_comparable_runs_fails_only_with_a_baseline():
    stats = {
        "surfaces": surfaces(en={"rest": ("ok", 4)}, es={"rest": ("ok", 9)}),
        "candidates_by_edition": {"en": 4, "es": 9},
    }
    (problem,) = discovery_problems(stats, {"en": [30, 28, 33, 31], "es": [9, 10, 8]}, GATE)
    assert problem.startswith("edition en: 4 candidates against a median of 30")
    assert "rest ok (4)" in problem
    assert discovery_problems(stats, {"en": [30, 28]}, GATE) == [], "two runs are no baseline"
    assert discovery_problems(stats, {"en": [5, 6, 7]}, GATE) == [], "a small median is no baseline"
    lenient = QualityThresholds(min_discovery_ratio=0.1)
    assert discovery_problems(stats, {"en": [30, 28, 33, 31]}, lenient) == []
