"""The quality gate without servers: every reason a run must fail, and nothing else."""

from __future__ import annotations

from pipelines.settings import QualityThresholds
from pipelines.tasks import quality_problems

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
