"""Crawl state without servers: how ``spiders.output.next_state`` folds fetch records into the next run's state,
and how the state file round-trips (``base_seq`` included) or refuses a malformed line."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from spiders.output import next_state
from spiders.state import CrawlState, KnownPost

BASE = "https://insightcrime.org"
NOW = datetime(2026, 11, 20, 6, 0, tzinfo=UTC)
MARK = "2026-11-10T00:00:00+00:00"


def record(post_id: int | None, status: str = "fetched", **fields) -> dict:
    """A fetch record as spiders.records.fetch_record writes it (only the fields next_state reads vary)."""
    return {
        "post_id": post_id,
        "edition": "en",
        "url": f"{BASE}/news/p{post_id}/",
        "aliases": [],
        "status": status,
        "etag": f'"e{post_id}"',
        "last_modified": "Wed, 11 Nov 2026 00:00:00 GMT",
        "modified": "2026-11-11T00:00:00Z",
        "base_seq": None,
    } | fields


def known(post_id: int, **fields) -> KnownPost:
    return KnownPost(post_id, "en", f"{BASE}/news/p{post_id}/", **fields)


def fold(state: CrawlState, *records: dict, mode: str = "nightly") -> CrawlState:
    return next_state(state, list(records), mode, ["en"], now=NOW)


def test_a_new_post_is_known_with_its_validators():
    state = fold(CrawlState(), record(5))
    post = state.posts[5]
    assert (post.url, post.aliases, post.gone) == (f"{BASE}/news/p5/", [], False)
    assert (post.etag, post.last_modified, post.modified) == (
        '"e5"',
        "Wed, 11 Nov 2026 00:00:00 GMT",
        record(5)["modified"],
    )
    assert post.last_seen == "2026-11-20T06:00:00+00:00"


def test_a_renamed_url_becomes_an_alias():
    state = CrawlState(posts={5: known(5, aliases=[f"{BASE}/news/older/"])})
    fold(state, record(5, "redirected", url=f"{BASE}/news/renamed/", aliases=[f"{BASE}/news/p5/"]))
    post = state.posts[5]
    assert post.url == f"{BASE}/news/renamed/"
    assert post.aliases == [f"{BASE}/news/older/", f"{BASE}/news/p5/"]
    assert state.by_url()[f"{BASE}/news/p5/"] is post


def test_not_modified_keeps_the_validators():
    state = CrawlState(
        posts={5: known(5, etag='"old"', last_modified="Mon, 02 Nov 2026", modified="2026-11-02T00:00:00Z")}
    )
    fold(state, record(5, "not_modified", etag=None, last_modified=None, modified="2026-11-12T00:00:00Z"))
    post = state.posts[5]
    assert (post.etag, post.last_modified, post.modified) == (
        '"old"',
        "Mon, 02 Nov 2026",
        "2026-11-02T00:00:00Z",
    )
    assert post.last_seen == "2026-11-20T06:00:00+00:00" and not post.gone


def test_gone_marks_gone_and_a_later_fetch_revives():
    state = CrawlState(posts={5: known(5, etag='"x"')})
    fold(state, record(5, "gone", etag=None))
    assert state.posts[5].gone and state.posts[5].etag == '"x"'
    fold(state, record(5))
    assert not state.posts[5].gone and state.posts[5].etag == '"e5"'


def test_failed_records_and_records_without_id_leave_the_state_untouched():
    before = CrawlState(posts={5: known(5, etag='"x"')}, high_water={"en": MARK}, base_seq=2)
    state = fold(
        CrawlState(posts={5: known(5, etag='"x"')}, high_water={"en": MARK}, base_seq=2),
        record(5, "failed", url=f"{BASE}/news/elsewhere/", modified="2026-11-19T00:00:00Z"),
        record(None, modified="2026-11-19T00:00:00Z"),
        record(6, "failed"),
    )
    assert state.dumps() == before.dumps()


def test_high_water_mark_only_moves_forward_and_only_in_nightly_or_reconcile():
    state = CrawlState(high_water={"en": MARK})
    fold(state, record(1, modified="2026-11-01T00:00:00Z"))
    assert state.high_water["en"] == MARK, "an older record does not lower it"
    fold(state, record(2, modified="2026-11-15T08:30:00Z"), record(3, modified="2026-11-12T00:00:00Z"))
    assert state.high_water["en"] == "2026-11-15T08:30:00+00:00"
    fold(state, record(4, modified="2026-11-18T00:00:00Z"), mode="window")
    assert state.high_water["en"] == "2026-11-15T08:30:00+00:00", "a backfill does not move it"
    fold(state, record(4, "not_modified", modified="2026-11-16T00:00:00Z"), mode="reconcile")
    assert state.high_water["en"] == "2026-11-16T00:00:00+00:00"
    assert fold(CrawlState(), record(9, modified=None)).high_water == {}


def test_base_seq_survives_the_fold_and_the_file(tmp_path):
    state = fold(CrawlState(base_seq=12), record(5))
    assert state.base_seq == 12
    path = tmp_path / "state.jsonl"
    state.save(path)
    assert path.read_text().splitlines()[0] == '{"kind": "base", "base_seq": 12}'
    again = CrawlState.load(path)
    assert again.base_seq == 12 and again.posts == state.posts and again.dumps() == state.dumps()


def test_old_state_files_have_no_base_seq(tmp_path):
    path = tmp_path / "state.jsonl"
    CrawlState(posts={5: known(5)}).save(path)
    assert '"base"' not in path.read_text()
    assert CrawlState.load(path).base_seq is None
    assert CrawlState.load(tmp_path / "missing.jsonl").base_seq is None


@pytest.mark.parametrize(
    ("line", "why"),
    [
        ("not json", "Expecting value"),
        ("[1, 2]", "a JSON list, not an object"),
        ('{"edition": "en"}', "'kind'"),
        ('{"kind": "dream"}', 'unknown kind "dream"'),
        ('{"kind": "post", "nonsense": 1}', "unexpected keyword"),
        (
            '{"kind": "post", "post_id": 0, "edition": "en", "url": "u"}',
            "post_id 0 is not a positive integer",
        ),
        ('{"kind": "edition", "edition": "en"}', "'high_water_mark'"),
        ('{"kind": "base", "base_seq": "3"}', 'base_seq "3" is not a snapshot number'),
        ('{"kind": "base", "base_seq": -1}', "base_seq -1 is not a snapshot number"),
        ('{"kind": "base", "base_seq": true}', "base_seq true is not a snapshot number"),
        ('{"kind": "base"}', "'base_seq'"),
        ('{"kind": "base", "base_seq": 1, "x": 2}', "unexpected fields in the base row: x"),
    ],
)
def test_a_malformed_line_is_a_clear_error(tmp_path, line, why):
    path = tmp_path / "state.jsonl"
    path.write_text(
        '{"kind": "edition", "edition": "en", "high_water_mark": "2026-11-10T00:00:00+00:00"}\n\n'
        + line
        + "\n"
    )
    with pytest.raises(ValueError, match=r"state\.jsonl:3: not a crawl-state record \(.*") as caught:
        CrawlState.load(path)
    assert why in str(caught.value)


def test_two_base_rows_are_an_error(tmp_path):
    path = tmp_path / "state.jsonl"
    path.write_text('{"kind": "base", "base_seq": 1}\n{"kind": "base", "base_seq": 2}\n')
    with pytest.raises(ValueError, match=r"state\.jsonl:2: .*second base row"):
        CrawlState.load(path)
