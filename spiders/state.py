"""Crawl state between runs: what is known per post (URL, aliases, validators) and per edition (high-water mark).

A JSONL file for the crawl stage on its own; the commit stage keeps the same records in the bucket. Its rows are
``{"kind": "base", "base_seq": N}`` (the snapshot the run plans against; absent in older files),
``{"kind": "edition", "edition": ..., "high_water_mark": ..., "strategy": {...}}`` (the mark or the REST
strategy of ``spiders.editions`` may be absent) and ``{"kind": "post", ...}``.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

from .editions import Strategy
from .urls import show_bad_id, valid_post_id


@dataclass
class KnownPost:
    post_id: int
    edition: str
    url: str
    aliases: list[str] = field(default_factory=list)
    etag: str | None = None
    last_modified: str | None = None
    modified: str | None = None  # the article's own dateModified (ISO-8601, UTC)
    fingerprint: str | None = None
    last_seen: str | None = None
    gone: bool = False

    def __post_init__(self) -> None:
        # A state file is input too: a bad id here would key the post wrongly and reach records via `known`.
        if valid_post_id(self.post_id) is None:
            raise ValueError(f"post_id {show_bad_id(self.post_id)} is not a positive integer below 2**63")


@dataclass
class CrawlState:
    posts: dict[int, KnownPost] = field(default_factory=dict)
    high_water: dict[str, str] = field(default_factory=dict)  # edition -> ISO-8601 UTC
    base_seq: int | None = None  # the archive snapshot this state was read from; every fetch record names it
    strategies: dict[str, Strategy] = field(default_factory=dict)  # edition -> how its REST API answers

    def by_url(self) -> dict[str, KnownPost]:
        index = {}
        for post in self.posts.values():
            for url in (post.url, *post.aliases):
                index[url] = post
        return index

    @classmethod
    def load(cls, path: str | Path | None) -> CrawlState:
        state = cls()
        if not path or not Path(path).exists():
            return state
        with open(path, encoding="utf-8") as handle:
            for number, line in enumerate(handle, 1):
                if not line.strip():
                    continue
                try:
                    row = json.loads(line)
                    if not isinstance(row, dict):
                        raise ValueError(f"a JSON {type(row).__name__}, not an object")
                    kind = row.pop("kind")
                    if kind == "base":
                        state.base_seq = _base_seq(row, state.base_seq)
                    elif kind == "edition":
                        if row["high_water_mark"] is not None:
                            state.high_water[row["edition"]] = row["high_water_mark"]
                        if row.get("strategy") is not None:
                            state.strategies[row["edition"]] = Strategy.from_dict(row["strategy"])
                    elif kind == "post":
                        post = KnownPost(**row)
                        state.posts[post.post_id] = post
                    else:
                        raise ValueError(f"unknown kind {show_bad_id(kind)}")
                except (ValueError, KeyError, TypeError) as exc:
                    raise ValueError(f"{path}:{number}: not a crawl-state record ({exc})") from None
        return state

    def dumps(self) -> str:
        rows: list[dict] = [{"kind": "base", "base_seq": self.base_seq}] if self.base_seq is not None else []
        for edition in sorted(self.high_water.keys() | self.strategies.keys()):
            row = {"kind": "edition", "edition": edition, "high_water_mark": self.high_water.get(edition)}
            if edition in self.strategies:
                row["strategy"] = self.strategies[edition].as_dict()
            rows.append(row)
        rows += [{"kind": "post", **asdict(p)} for _, p in sorted(self.posts.items())]
        return "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)

    def save(self, path: str | Path) -> None:
        """Atomic replace: a crash while saving leaves the previous state intact."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".state-")
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(self.dumps())
        os.replace(tmp, path)


def _base_seq(row: dict, current: int | None) -> int:
    """A base row's snapshot number; one per file, a non-negative int (0: the archive had no snapshot yet)."""
    value = row.pop("base_seq")
    if current is not None:
        raise ValueError("a second base row")
    if row:
        raise ValueError(f"unexpected fields in the base row: {', '.join(sorted(row))}")
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"base_seq {show_bad_id(value)} is not a snapshot number")
    return value
