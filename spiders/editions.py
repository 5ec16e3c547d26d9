"""How each edition is discovered through the REST API: probed once, kept in the crawl state, re-probed weekly.

A WordPress site serves a language edition in one of two standard ways: one install filtering by a ``lang``
parameter (Polylang, WPML), or a separate install under a path (``/es/wp-json/``). Which one, and the ids of the
scope's categories with all their descendants, is found by listing the install's categories; a nightly run then
asks for posts directly. A strategy whose posts query fails, or that is a week old, is probed again; REST that
failed stays skipped until then, so a nightly run does not spend requests on it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta

from .discovery import parse_time
from .sites import Edition
from .urls import valid_post_id

PROBE_EVERY = timedelta(days=7)
MAX_CATEGORY_PAGES = 20  # 2,000 categories: beyond any news site's taxonomy


@dataclass
class Strategy:
    """What worked for one edition: where its REST API is, whether it filters by ``lang``, the scope's ids."""

    rest_root: str | None  # "" the main install, "/es" a separate one, None: REST unusable for this edition
    lang: bool = False  # the install's terms carry a ``lang`` field (Polylang/WPML): informational
    categories: dict[str, list[int]] = field(default_factory=dict)  # slug -> ids, scope and descendants
    probed_at: str | None = None  # ISO-8601 UTC
    scope: list[str] = field(default_factory=list)  # the root slugs the ids were resolved for
    reason: str | None = None  # why REST is unusable, when it is
    base_url: str | None = (
        None  # the origin probed: a strategy learnt on a staging mirror is not production's
    )

    def usable(self, now: datetime, scope: list[str], base_url: str) -> bool:
        """Fresh enough, for this origin, and resolved for the scope asked for (a category override re-probes)."""
        probed = parse_time(self.probed_at)
        fresh = bool(probed and now - probed < PROBE_EVERY)
        return fresh and self.scope == list(scope) and self.base_url == base_url

    @property
    def ids(self) -> list[int]:
        return sorted({i for ids in self.categories.values() for i in ids})

    def as_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, row: dict) -> Strategy:
        if not isinstance(row, dict):
            raise ValueError("a strategy must be an object")
        root, categories = row.get("rest_root"), row.get("categories") or {}
        if root is not None and (not isinstance(root, str) or (root and not root.startswith("/"))):
            raise ValueError(f"rest_root {root!r} is not a path")
        if not isinstance(categories, dict) or any(
            not isinstance(k, str) or not isinstance(v, list) or any(valid_post_id(i) is None for i in v)
            for k, v in categories.items()
        ):
            raise ValueError("categories must map slugs to lists of positive ids")
        scope = row.get("scope") or []
        if not isinstance(scope, list) or not all(isinstance(s, str) for s in scope):
            raise ValueError("scope must be a list of slugs")
        return cls(
            rest_root=root,
            lang=bool(row.get("lang")),
            categories=dict(categories),
            probed_at=row.get("probed_at") if isinstance(row.get("probed_at"), str) else None,
            scope=scope,
            reason=row.get("reason") if isinstance(row.get("reason"), str) else None,
            base_url=row.get("base_url") if isinstance(row.get("base_url"), str) else None,
        )


def rest_roots(edition: Edition, first: str | None = None) -> list[str]:
    """Installs to try, in order: `first` (the one that worked last time), the main one (with ``lang``), then the
    edition's own install if it names one."""
    roots = [""] + ([edition.install] if edition.install else [])
    return [first, *[r for r in roots if r != first]] if first in roots else roots


def scope_ids(terms: list, roots: list[str]) -> dict[str, list[int]]:
    """The root categories (by slug) and all their descendants, from an install's category list: slug -> ids
    (two terms may share a slug). Items that are not well-formed terms are ignored; a cycle cannot loop."""
    by_id: dict[int, dict] = {}
    for term in terms:
        if isinstance(term, dict) and valid_post_id(term.get("id")) and isinstance(term.get("slug"), str):
            by_id[term["id"]] = term
    chosen = {tid: t["slug"] for tid, t in by_id.items() if t["slug"] in roots}
    grew = bool(chosen)
    while grew:
        grew = False
        for tid, term in by_id.items():
            parent = term.get("parent")
            if tid not in chosen and isinstance(parent, int) and parent in chosen:
                chosen[tid] = term["slug"]
                grew = True
    found: dict[str, list[int]] = {}
    for tid, slug in sorted(chosen.items()):
        found.setdefault(slug, []).append(tid)
    return found
