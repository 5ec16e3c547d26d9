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

    @property
    def archive(self) -> str:
        """The category archive's path: ``/category/news/brief/``, ``/es/category/noticias/``."""
        prefix = f"{self.lang}/"
        if self.path.startswith(prefix):
            return f"/{self.lang}/category/{self.path[len(prefix) :]}/"
        return f"/category/{self.path}/"


@dataclass(frozen=True, eq=False)
class SiteSpec:
    """What is specific to one simulated site; everything else is WordPress.

    ``scope`` names, per language, the root categories whose posts *and all descendant categories' posts* are
    briefs. ``home`` is where a new brief goes, ``legacy`` an older home for briefs published before a year,
    ``sub`` a child category that takes a share of the briefs (after ``legacy``), ``decoy`` where non-briefs go.
    """

    name: str
    categories: tuple[Category, ...]
    scope: dict[str, tuple[str, ...]]
    languages: tuple[str, ...]
    theme: str
    tagline: str
    home: dict[str, str]
    decoy: dict[str, str]
    legacy: dict[str, tuple[int, str]] = field(default_factory=dict)
    sub: dict[str, tuple[str, float]] = field(default_factory=dict)
    real_posts: bool = False  # the seed brief and the real feed items (InSight Crime only)
    by_slug: dict[str, Category] = field(init=False, repr=False)
    by_id: dict[int, Category] = field(init=False, repr=False)
    briefs: dict[str, frozenset[str]] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        set_(self, "by_slug", {c.slug: c for c in self.categories})
        set_(self, "by_id", {c.id: c for c in self.categories})
        set_(
            self,
            "briefs",
            {lang: frozenset().union(*map(self.descendants, roots)) for lang, roots in self.scope.items()},
        )

    def descendants(self, slug: str) -> set[str]:
        """``slug`` and every category below it (WordPress category queries include children)."""
        found, frontier = {slug}, [self.by_slug[slug].id]
        while frontier:
            parent = frontier.pop()
            for cat in self.categories:
                if cat.parent == parent and cat.slug not in found:
                    found.add(cat.slug)
                    frontier.append(cat.id)
        return found


INSIGHT_CRIME = SiteSpec(
    name="InSight Crime",
    categories=(
        Category(2, "news", "News", "en", 0, "news"),
        Category(3, "brief", "Brief", "en", 2, "news/brief"),
        Category(4, "analysis", "Analysis", "en", 2, "news/analysis"),
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
    ),
    scope={"en": ("news",), "es": ("noticias-del-dia",)},
    languages=("en", "es"),
    theme="newspack",
    tagline="INVESTIGATION AND ANALYSIS OF ORGANIZED CRIME",
    home={"en": "news", "es": "noticias-del-dia"},
    decoy={"en": "investigations", "es": "investigaciones"},
    legacy={"en": (2023, "brief")},
    sub={"en": ("analysis", 0.06)},
    real_posts=True,
)
GENERIC_NEWS = SiteSpec(
    name="Harbour Gazette",
    categories=(
        Category(40, "local", "Local News", "en", 0, "local"),
        Category(41, "courts", "Courts", "en", 40, "local/courts"),
        Category(42, "opinion", "Opinion", "en", 0, "opinion"),
    ),
    scope={"en": ("local",)},
    languages=("en",),
    theme="tagdiv",
    tagline="News from the harbour and the hills",
    home={"en": "local"},
    decoy={"en": "opinion"},
    sub={"en": ("courts", 0.15)},
)
SPECS = {"insightcrime": INSIGHT_CRIME, "generic": GENERIC_NEWS}
# Category ids and slugs are unique across all specs, so a post's category resolves without its site.
CATEGORY_BY_ID = {c.id: c for spec in SPECS.values() for c in spec.categories}
CATEGORY_BY_SLUG = {c.slug: c for spec in SPECS.values() for c in spec.categories}


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
    spec: SiteSpec = field(default=INSIGHT_CRIME, repr=False, compare=False)

    @property
    def path(self) -> str:
        return f"/{CATEGORY_BY_SLUG[self.category].path}/{self.slug}/"

    @property
    def is_brief(self) -> bool:
        return self.category in self.spec.briefs.get(self.lang, ())

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
            home = CATEGORY_BY_SLUG[self.spec.legacy.get("en", (0, self.spec.home["en"]))[1]].path
            see_also = (f"/{home}/related-{self.seed % 997}/", f"Related Brief {self.seed % 997}")
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

    def __init__(
        self,
        posts: int = 500,
        seed: int = 7,
        now: datetime = DEFAULT_NOW,
        es_share: float = 0.3,
        spec: SiteSpec = INSIGHT_CRIME,
    ):
        self.spec = spec
        self.seed = seed
        self.now = now
        self.rng = random.Random(seed)
        self.lock = threading.RLock()
        self.posts: dict[int, Post] = {}
        self.categories = list(spec.categories)
        self.by_path: dict[str, Post] = {}
        self.changes: list[Change] = []
        self._next_id = 10_000
        self._generate(posts, es_share if "es" in spec.languages else 0.0)
        self.seed_post: Post | None = None
        self.real_posts: list[Post] = []
        if spec.real_posts:
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
        category = self._category_for(lang, published, decoy)
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
            spec=self.spec,
        )
        self.posts[post.id] = post
        return post

    def _category_for(self, lang: str, published: datetime, decoy: bool) -> str:
        """The category an editor ticks; a draw of its own so the other posts stay as they were."""
        spec = self.spec
        if decoy:
            return spec.decoy[lang]
        year, legacy = spec.legacy.get(lang, (0, ""))
        if published.year < year:
            return legacy
        if lang in spec.sub:
            child, share = spec.sub[lang]
            if random.Random(f"category:{self.seed}:{self._next_id}").random() < share:
                return child
        return spec.home[lang]

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

    # ---- categories ---------------------------------------------------------------------------------------
    def category(self, slug: str) -> Category:
        return self.spec.by_slug[slug]

    def descendants(self, slug: str) -> set[str]:
        """``slug`` and the slugs of every category below it."""
        return self.spec.descendants(slug)

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

    def briefs_in(self, slug: str, lang: str | None = None) -> set[int]:
        """Ids of live posts whose own category is exactly ``slug`` (what ``categories=<its id>`` must list)."""
        return {p.id for p in self.live(lang, briefs_only=False) if p.category == slug}
