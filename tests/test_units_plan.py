"""Commit planning without servers: versions, tombstones, aliases, and causality (the newer observation wins)."""

from __future__ import annotations

import msgspec
import pytest
from observations import observed

from pipelines.documents import CleanedRecord
from pipelines.plan import Head, IdCollision, Plan, plan


def commit(head: Head, *records: CleanedRecord, run_id: str = "run") -> tuple[Head, Plan]:
    """Plan and 'commit' in memory: the next head."""
    result = plan(head, records, run_id, "example")
    return Head(result.seq, result.index), result


def test_new_changed_unchanged_removed_and_aliased():
    head, first = commit(Head(0, {}), observed(1, "one", "2026-11-01T00:00:00Z"), observed(2, "two", "T1"))
    assert first.changes["new"] == ["1", "2"] and len(first.versions) == 2
    head, second = commit(
        head,
        observed(1, "one, edited", "2026-11-02T00:00:00Z", base_seq=1),
        observed(2, "two", "2026-11-02T00:00:00Z", base_seq=1, url="https://example.org/news/renamed/"),
    )
    assert second.changes["changed"] == ["1"] and second.changes["aliased"] == ["2"]
    assert head.index["2"].aliases == ["https://example.org/news/p2/"]
    assert head.index["1"].version == 2 and head.index["1"].observed_in == 2
    (version,) = [v for v in second.versions.values() if v.article_id == "1"]
    assert version.previous == first.index["1"].key and version.previous_sha256 == first.index["1"].sha256
    head, third = commit(head, observed(1, "", "2026-11-03T00:00:00Z", base_seq=2, status="gone"))
    assert third.changes["removed"] == ["1"] and head.index["1"].status == "gone"
    assert head.index["1"].url == "https://example.org/news/p1/"
    counts = msgspec.to_builtins(third.typed_counts())
    assert (counts["articles"], counts["live"], counts["gone"], counts["removed"]) == (2, 1, 1, 1)


def test_an_older_observation_never_replaces_a_newer_one():
    head, _ = commit(Head(0, {}), observed(1, "v1", "2026-11-01T00:00:00Z", "2026-10-01T00:00:00Z"))
    # Runs A and B both planned against snapshot 1; the site edited the article between their fetches.
    a = observed(1, "v1", "2026-11-02T00:00:00Z", "2026-10-01T00:00:00Z", base_seq=1)
    b = observed(1, "v2", "2026-11-02T01:00:00Z", "2026-11-02T00:30:00Z", base_seq=1)
    b_first, _ = commit(head, b)
    after, late_a = commit(b_first, a)
    assert late_a.changes["superseded"] == ["1"] and not late_a.versions, "A's older text is not a version"
    assert after.index["1"].fingerprint == b.fingerprint
    again, late_same = commit(b_first, observed(1, "v2", "2026-11-02T00:45:00Z", base_seq=1))
    assert late_same.counts["unchanged"] == 1 and again.index["1"] == b_first.index["1"], "older, same text"
    a_edit = observed(1, "v1 with a typo fix", "2026-11-02T00:00:00Z", "2026-10-01T00:00:00Z", base_seq=1)
    after, late = commit(b_first, a_edit)
    assert late.changes["superseded"] == ["1"] and not late.versions
    assert after.index["1"].fingerprint == b.fingerprint, "B's newer edit stays current"
    a_first, _ = commit(head, a_edit)
    after, late_b = commit(a_first, b)
    assert late_b.changes["changed"] == ["1"] and after.index["1"].fingerprint == b.fingerprint


def test_fetch_time_decides_when_the_site_says_nothing():
    head, _ = commit(Head(0, {}), observed(1, "v1", "2026-11-01T00:00:00Z"))
    newer = observed(1, "v2", "2026-11-02T10:00:00Z", base_seq=1)
    older_gone = observed(1, "", "2026-11-02T09:00:00Z", base_seq=1, status="gone")
    head, _ = commit(head, newer)
    after, result = commit(head, older_gone)
    assert result.changes["superseded"] == ["1"] and after.index["1"].status == "live", "a stale 404 loses"
    later_gone = observed(1, "", "2026-11-03T00:00:00Z", base_seq=1, status="gone")
    after, result = commit(head, later_gone)
    assert result.changes["removed"] == ["1"], "a 404 seen after the edit wins"


def test_no_conflict_when_nothing_happened_since_the_base():
    head, _ = commit(Head(0, {}), observed(1, "v1", "2026-11-05T00:00:00Z", "2026-11-05T00:00:00Z"))
    skewed = observed(1, "v2", "2026-11-04T00:00:00Z", "2026-11-04T00:00:00Z", base_seq=1)
    _, result = commit(head, skewed)
    assert result.changes["changed"] == ["1"], "planned against the current state: applied as is"


def test_a_reclean_applies_only_to_the_version_it_re_extracted():
    head, first = commit(Head(0, {}), observed(1, "v1", "2026-11-01T00:00:00Z"))
    source = first.index["1"].key
    reclean = observed(1, "v1 better extracted", "2026-11-01T00:00:00Z", base_seq=1, reextract_of=source)
    _, applied = commit(head, reclean)
    assert applied.changes["changed"] == ["1"]
    edited, _ = commit(head, observed(1, "v2", "2026-11-03T00:00:00Z", base_seq=1))
    after, late = commit(edited, reclean)
    assert late.changes["superseded"] == ["1"] and after.index["1"].version == 2


def test_empty_bodies_and_failures_never_replace_a_version():
    head, _ = commit(Head(0, {}), observed(1, "v1", "2026-11-01T00:00:00Z"))
    empty = msgspec.structs.replace(
        observed(1, "x", "2026-11-02T00:00:00Z", base_seq=1), quality=["empty_body"]
    )
    failed = observed(1, "", "2026-11-02T00:00:00Z", base_seq=1, status="failed")
    after, result = commit(head, empty, failed)
    assert result.counts["rejected_empty"] == 1 and result.counts["failed"] == 1 and not result.versions
    assert after.index == head.index


def test_two_editions_claiming_one_post_id_are_refused_not_mixed():
    """Separate WordPress installs number posts independently: an es post 5 is not the en post 5."""
    spanish = msgspec.structs.replace(
        observed(5, "cinco", "2026-11-02T00:00:00Z", url="https://example.org/es/p5/"), edition="es"
    )
    head, _ = commit(Head(0, {}), observed(5, "five", "2026-11-01T00:00:00Z"))
    with pytest.raises(IdCollision, match=r"post id 5 is a en article .* saw it as es"):
        commit(head, spanish)
    with pytest.raises(IdCollision):
        commit(Head(0, {}), observed(5, "five", "2026-11-01T00:00:00Z"), spanish)
