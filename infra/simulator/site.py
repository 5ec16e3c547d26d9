"""The simulated site's data: posts, a clock that edits, renames and removes them, and the ground truth.

Everything is derived from a seed, so two simulators with the same arguments serve byte-identical sites and a
test can ask the site itself what a correct crawl must find.
"""

from __future__ import annotations

import hashlib
import random
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from . import content

SITE_TZ = timedelta(hours=-5)  # Bogotá: the REST API's naive `date` fields are in site-local time.
DEFAULT_NOW = datetime(2026, 11, 20, 6, 0, tzinfo=UTC)


@dataclass(frozen=True)
class Category:
    id: int
    slug: str
    name: str
    lang: str
    parent: int = 0
    path: str = ""  # permalink base, e.g. "news/brief"


CATEGORIES = [
    Category(2, "news", "News", "en", 0, "news"),
    Category(3, "brief", "Brief", "en", 2, "news/brief"),
    Category(
        10,
        "mexico-organized-crime-news",
        "Mexico Organized Crime News",
        "en",
        0,
        "mexico-organized-crime-news",
    ),
    Category(11, "investigations", "Investigations", "en", 0, "investigations"),
    Category(20, "noticias", "Noticias", "es", 0, "es/noticias"),
    Category(21, "noticias-del-dia", "Noticias del día", "es", 20, "es/noticias/noticias-del-dia"),
    Category(30, "investigaciones", "Investigaciones", "es", 0, "es/investigaciones"),
]
CATEGORY_BY_ID = {c.id: c for c in CATEGORIES}
CATEGORY_BY_SLUG = {c.slug: c for c in CATEGORIES}
BRIEF_CATEGORIES = {"en": ("news", "brief"), "es": ("noticias-del-dia",)}


@dataclass
class Post:
    id: int
    lang: str
    slug: str
    title: str
    published: datetime
    modified: datetime
    authors: list[str]
    category: str
    tags: list[str]
    seed: int
    revision: int = 0
    old_paths: list[str] = field(default_factory=list)
    gone: int | None = None  # 404 or 410 once removed
    translation: int | None = None
    fixed_body: str | None = None
    featured_image: str | None = None

    @property
    def path(self) -> str:
        return f"/{CATEGORY_BY_SLUG[self.category].path}/{self.slug}/"

    @property
    def is_brief(self) -> bool:
        return self.category in BRIEF_CATEGORIES[self.lang]

    @property
    def etag(self) -> str:
        digest = hashlib.sha1(f"{self.id}:{self.revision}:{self.slug}".encode()).hexdigest()[:16]
        return f'"{digest}"'

    def body_html(self) -> str:
        """The post's block markup at its current revision."""
        if self.fixed_body is not None:
            base = self.fixed_body
        else:
            rng = random.Random(self.seed)
            see_also = (f"/news/brief/related-{self.seed % 997}/", f"Related Brief {self.seed % 997}")
            base = "\n\n\n\n".join(content.make_body(rng, self.lang, self.title, see_also))
        edits = [content.edit_paragraph(self.lang, r) for r in range(1, self.revision + 1)]
        return "\n\n\n\n".join([base, *edits])


@dataclass
class Change:
    """What one clock advance did: the ground truth for the next nightly run."""

    at: datetime
    new: list[int] = field(default_factory=list)
    edited: list[int] = field(default_factory=list)
    renamed: dict[int, str] = field(default_factory=dict)  # post id -> old path
    removed: list[int] = field(default_factory=list)


class Site:
    """All posts of the simulated site, mutable only through :meth:`advance`."""

    def __init__(self, posts: int = 500, seed: int = 7, now: datetime = DEFAULT_NOW, es_share: float = 0.3):
        self.seed = seed
        self.now = now
        self.rng = random.Random(seed)
        self.lock = threading.RLock()
        self.posts: dict[int, Post] = {}
        self.by_path: dict[str, Post] = {}
        self.changes: list[Change] = []
        self._next_id = 10_000
        self._generate(posts, es_share)
        self._add_real_posts()
        self._reindex()

    # ---- construction -------------------------------------------------------------------------------------
    def _generate(self, count: int, es_share: float) -> None:
        """Briefs spread back in time from `now` (mean gap 7 h), plus ~10% non-brief decoys."""
        at = self.now - timedelta(hours=1)
        stamps = []
        total = count + count // 10
        for _ in range(total):
            at -= timedelta(seconds=int(self.rng.expovariate(1 / (7 * 3600))) + 60)
            stamps.append(at)
        stamps.reverse()
        last_en: Post | None = None
        for i, published in enumerate(stamps):
            decoy = i % 11 == 10
            lang = "es" if self.rng.random() < es_share else "en"
            post = self._new_post(lang, published, decoy=decoy)
            if (
                lang == "es"
                and last_en
                and last_en.translation is None
                and not decoy
                and self.rng.random() < 0.6
            ):
                post.translation, last_en.translation = last_en.id, post.id
            if lang == "en" and not decoy:
                last_en = post

    def _new_post(self, lang: str, published: datetime, decoy: bool = False) -> Post:
        self._next_id += self.rng.randint(3, 40)
        rng = random.Random(self.seed * 1_000_003 + self._next_id)
        title, tags = content.make_title(rng, lang)
        if decoy:
            category = "investigations" if lang == "en" else "investigaciones"
        elif lang == "en":
            category = "brief" if published.year < 2023 else "news"
        else:
            category = "noticias-del-dia"
        slug = content.slugify(title)
        if any(p.slug == slug for p in self.posts.values()):
            slug = f"{slug}-{self._next_id}"
        authors = rng.sample(content.AUTHORS, k=2 if rng.random() < 0.15 else 1)
        edit_lag = timedelta(days=rng.choice([0, 0, 0, 1, 30, 200])) + timedelta(minutes=rng.randint(0, 600))
        if (
            published + edit_lag > self.now
        ):  # edits happened in the past, not all at the moment the clock reads
            edit_lag = timedelta(minutes=rng.randint(0, 60))
        modified = min(published + edit_lag, self.now)
        post = Post(
            self._next_id,
            lang,
            slug,
            title,
            published,
            modified,
            authors,
            category,
            tags[:2],
            seed=rng.randrange(1 << 30),
        )
        self.posts[post.id] = post
        return post

    def _add_real_posts(self) -> None:
        seed = content.seed_page()
        published = datetime.fromisoformat(seed["published"]).replace(hour=14, tzinfo=UTC)
        slug = seed["url"].rstrip("/").rsplit("/", 1)[1]
        self.seed_post = Post(
            51212,
            "en",
            slug,
            seed["title"],
            published,
            published + timedelta(hours=3),
            seed["authors"],
            "brief",
            seed["tags"],
            seed=1,
            fixed_body=seed["body_html"],
        )
        self.posts[self.seed_post.id] = self.seed_post
        self.real_posts = []
        for item in content.real_items():
            parts = item.url.split("/")
            category = "news" if parts[3] == "news" else parts[3]
            tags = [t for t in item.terms if t not in ("News", "Uncategorized", "Mexico Personalities")]
            post = Post(
                item.post_id,
                "en",
                parts[-2],
                item.title,
                item.published,
                item.published + timedelta(minutes=5),
                item.authors,
                category,
                tags,
                seed=2,
                fixed_body=item.body_html,
                featured_image=item.featured_image,
            )
            self.posts[post.id] = post
            self.real_posts.append(post)

    def _reindex(self) -> None:
        self.by_path = {}
        for post in self.posts.values():
            self.by_path[post.path] = post
            for old in post.old_paths:
                self.by_path.setdefault(old, post)
        self.ordered = sorted(self.posts.values(), key=lambda p: (p.published, p.id))

    # ---- the clock ----------------------------------------------------------------------------------------
    def advance(
        self,
        hours: float = 24,
        new: int = 5,
        edited: int = 2,
        renamed: int = 1,
        removed: int = 0,
        lang: str = "en",
    ) -> Change:
        """Move the clock: publish, edit, rename and remove briefs, each change stamped inside the new window."""
        with self.lock:
            start, self.now = self.now, self.now + timedelta(hours=hours)
            change = Change(at=self.now)
            span = (self.now - start).total_seconds()

            def stamp(i: int, of: int) -> datetime:
                return start + timedelta(seconds=span * (i + 1) / (of + 1))

            live = [
                p
                for p in self.ordered
                if p.gone is None and p.is_brief and p.lang == lang and p.fixed_body is None
            ]
            picks = self.rng.sample(live, k=edited + renamed + removed)
            for i, post in enumerate(picks[:edited]):
                post.revision += 1
                post.modified = stamp(i, edited)
                change.edited.append(post.id)
            for i, post in enumerate(picks[edited : edited + renamed]):
                change.renamed[post.id] = post.path
                post.old_paths.append(post.path)
                post.slug = f"{post.slug}-updated"
                post.modified = stamp(i, renamed)
                self.by_path[post.path] = post
            for post in picks[edited + renamed :]:
                post.gone = 410 if self.rng.random() < 0.5 else 404
                change.removed.append(post.id)
            for i in range(new):
                change.new.append(self._new_post(lang, stamp(i, new)).id)
            self._reindex()
            self.changes.append(change)
            return change

    # ---- ground truth -------------------------------------------------------------------------------------
    def live(self, lang: str | None = None, briefs_only: bool = True) -> list[Post]:
        return [
            p
            for p in self.ordered
            if p.gone is None and (lang is None or p.lang == lang) and (p.is_brief or not briefs_only)
        ]

    def published_between(self, after: datetime, before: datetime, lang: str | None = None) -> set[int]:
        """Brief ids published in [after, before): what a `window` crawl must find."""
        return {p.id for p in self.live(lang) if after <= p.published < before}

    def modified_since(self, since: datetime, lang: str | None = None) -> set[int]:
        """Brief ids modified after `since`: what a `nightly` crawl must find."""
        return {p.id for p in self.live(lang) if p.modified > since}

    def removed(self) -> set[int]:
        return {p.id for p in self.posts.values() if p.gone is not None}
