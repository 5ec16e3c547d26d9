"""Crawl state between runs: what is known per post (URL, aliases, validators) and per edition (high-water mark).

A JSONL file for the crawl stage on its own; the commit stage keeps the same records in the bucket.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path


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


@dataclass
class CrawlState:
    posts: dict[int, KnownPost] = field(default_factory=dict)
    high_water: dict[str, str] = field(default_factory=dict)  # edition -> ISO-8601 UTC

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
                    if row.pop("kind") == "edition":
                        state.high_water[row["edition"]] = row["high_water_mark"]
                    else:
                        post = KnownPost(**row)
                        state.posts[post.post_id] = post
                except (ValueError, KeyError, TypeError) as exc:
                    raise ValueError(f"{path}:{number}: not a crawl-state record ({exc})") from None
        return state

    def dumps(self) -> str:
        rows = [
            {"kind": "edition", "edition": e, "high_water_mark": h}
            for e, h in sorted(self.high_water.items())
        ]
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
