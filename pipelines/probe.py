"""``briefs probe``: a read-only check of a site before the first nightly run, so a missing surface is found by
an operator at setup, not by a night that silently archives nothing.

The probe crawl (``mode=probe``) tries every discovery surface of every edition once and fetches one sample
article per edition; this module reads what it saw (stats, records, robots.txt from the WARC), cleans each sample
with the profile, and turns it all into one row per check (ok / warn / fail) and a verdict. ``build_report`` is
pure, so every verdict rule is testable from hand-written stats.
"""

from __future__ import annotations

import json
import re
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from protego import Protego
from warcio.archiveiterator import ArchiveIterator

from spiders.sites import SiteProfile, load_profile
from spiders.surfaces import SURFACES

from .clean import UnreadablePage, clean_page, read_response

STATUSES = ("ok", "warn", "fail")
FETCHED = ("fetched", "redirected")


@dataclass
class Check:
    check: str
    edition: str | None  # None: the whole site
    status: str  # ok, warn or fail
    detail: str


@dataclass
class Sample:
    """The sample article of one edition, as fetched and cleaned."""

    edition: str
    url: str | None = None
    status: str = "missing"  # a fetch record status, "missing" (no candidate) or "unclean" (cleaning failed)
    reason: str | None = None
    title: str | None = None
    authors: list[str] = field(default_factory=list)
    published: str | None = None
    tags: list[str] = field(default_factory=list)
    chars: int = 0
    quality: list[str] = field(default_factory=list)


@dataclass
class ProbeReport:
    site: str
    profile: str
    requests: int
    fetch: dict  # sample fetches by outcome
    checks: list[Check]
    samples: list[Sample]
    strategy: dict

    @property
    def verdict(self) -> str:
        worst = max((STATUSES.index(c.status) for c in self.checks), default=0)
        return STATUSES[worst]

    @property
    def exit_code(self) -> int:
        return 1 if self.verdict == "fail" else 0

    def summary(self) -> str:
        counts = {s: sum(c.status == s for c in self.checks) for s in STATUSES}
        if self.verdict == "fail":
            failed = ", ".join(
                f"{c.check}{f' ({c.edition})' if c.edition else ''}" for c in self._with("fail")
            )
            return f"FAIL: {failed}: the pipeline cannot rely on this site as configured"
        if self.verdict == "warn":
            return f"OK with {counts['warn']} warning(s): the pipeline will run, see the warnings"
        return "OK: every surface the pipeline relies on works"

    def _with(self, status: str) -> list[Check]:
        return [c for c in self.checks if c.status == status]

    def as_dict(self) -> dict:
        return {
            "site": self.site,
            "profile": self.profile,
            "verdict": self.verdict,
            "summary": self.summary(),
            "requests": self.requests,
            "fetch": self.fetch,
            "checks": [asdict(c) for c in self.checks],
            "samples": [asdict(s) for s in self.samples],
            "strategy": self.strategy,
        }


# ---- the verdict ----------------------------------------------------------------------------------------------
def build_report(
    profile: SiteProfile, stats: dict, samples: list[Sample], robots: dict | None = None
) -> ProbeReport:
    """Every check and its status from the probe crawl's stats, the samples and robots.txt ({status, body})."""
    scrapy = stats.get("scrapy", {})
    checks = [_robots_check(profile, scrapy, samples, robots)]
    by_edition = {s.edition: s for s in samples}
    for edition in profile.editions:
        surfaces = stats.get("surfaces", {}).get(edition, {})
        checks += _surface_checks(profile, edition, surfaces, stats.get("strategy") or {})
        checks += _sample_checks(edition, by_edition.get(edition) or Sample(edition))
    checks.append(_rate_check(scrapy))
    return ProbeReport(
        site=profile.base_url,
        profile=profile.name,
        requests=int(scrapy.get("downloader/request_count", 0)),
        fetch=dict(stats.get("fetch", {})),
        checks=checks,
        samples=samples,
        strategy=stats.get("strategy", {}),
    )


def _robots_check(profile: SiteProfile, scrapy: dict, samples: list[Sample], robots: dict | None) -> Check:
    from spiders.settings import USER_AGENT

    refused = int(scrapy.get("robotstxt/forbidden", 0))
    status = (robots or {}).get("status")
    if status is None:
        fetched = [k.rsplit("/", 1)[1] for k in scrapy if k.startswith("robotstxt/response_status_count/")]
        status = int(fetched[0]) if fetched else None
    body = (robots or {}).get("body")
    if status == 200 and body is not None:
        rules = Protego.parse(body)
        paths = [s.url for s in samples if s.url]
        for edition in profile.editions.values():
            paths += [*_brief_example(edition), *edition.feed_paths, *edition.listing_paths]
        paths += ["/sitemap_index.xml", "/wp-json/wp/v2/posts"]
        denied = [p for p in paths if not rules.can_fetch(_absolute(profile, p), USER_AGENT)]
        briefs = [p for p in denied if profile.edition_of(urlsplit(p).path)]
        if briefs:
            return Check(
                "robots.txt", None, "fail", f"forbids brief paths for our User-Agent: {_few(briefs)}"
            )
        if denied or refused:
            shown = _few(denied) if denied else f"{refused} request(s)"
            return Check("robots.txt", None, "warn", f"forbids discovery paths: {shown}")
        return Check(
            "robots.txt", None, "ok", f"HTTP 200; allows brief and discovery paths ({len(paths)} tested)"
        )
    if refused:
        return Check("robots.txt", None, "fail", f"{refused} request(s) forbidden by robots.txt")
    if status is None:
        return Check("robots.txt", None, "warn", "not requested or not captured: cannot tell what it allows")
    if 400 <= status < 500:
        return Check("robots.txt", None, "ok", f"HTTP {status}: no rules, everything allowed")
    return Check("robots.txt", None, "warn", f"HTTP {status}: unreadable; Scrapy crawls as if allowed")


def _brief_example(edition) -> list[str]:
    """A path of the edition's brief permalink shape (its literal prefix + a slug), to test robots.txt with."""
    prefix = re.match(r"\^?([^\\.^$*+?{}\[\]|()]*)", edition.article_path.pattern).group(1)
    path = prefix.rstrip("/") + "/probe-example/"
    return [path] if edition.article_path.match(path) else []


def _absolute(profile: SiteProfile, path_or_url: str) -> str:
    return path_or_url if "://" in path_or_url else profile.base_url + path_or_url


def _few(items: list[str], n: int = 3) -> str:
    return ", ".join(items[:n]) + (f" (+{len(items) - n} more)" if len(items) > n else "")


def _surface(surfaces: dict, name: str) -> tuple[bool, int, str]:
    """(works, found, reason) of one surface; a surface the crawl did not report counts as failed."""
    info = surfaces.get(name) or {"status": "failed", "reason": "not reported by the probe crawl", "found": 0}
    found = int(info.get("found") or 0)
    return info.get("status") == "ok", found, info.get("reason") or ("no posts found" if not found else "")


def _surface_checks(profile: SiteProfile, edition: str, surfaces: dict, strategies: dict) -> list[Check]:
    strategy = strategies.get(edition) or {}
    checks = []
    rest_ok, rest_found, rest_reason = _surface(surfaces, "rest")
    root = strategy.get("rest_root")
    if rest_ok and root is not None:
        paging = strategy.get("paging") or {}
        pages = (
            f"X-WP-Total {paging.get('total')}, {paging.get('pages')} page(s)"
            if paging
            else "no paging headers"
        )
        install = f"install {root}" if root else "main install"
        checks.append(Check("rest", edition, "ok", f"{install}: {rest_found} posts found; {pages}"))
    else:
        why = rest_reason if not rest_ok else strategy.get("reason") or "no install knows the edition's scope"
        checks.append(
            Check("rest", edition, "warn", f"unavailable ({why}): the fallback works but costs requests")
        )
    root = root if rest_ok else None
    sharing = [
        e for e, other in strategies.items() if e != edition and (other or {}).get("rest_root") == root
    ]
    checks.append(_install_check(edition, root, bool(strategy.get("lang")), sharing))
    for name in ("rss", "listing"):
        works, found, reason = _surface(surfaces, name)
        if works and found:
            checks.append(Check(name, edition, "ok", f"{found} posts on the first page"))
        else:
            checks.append(Check(name, edition, "warn", f"{'failed' if not works else 'empty'}: {reason}"))
    works, found, reason = _surface(surfaces, "sitemap")
    if works and found:
        checks.append(Check("sitemap", edition, "ok", f"{found} posts in the first post sitemap"))
    else:
        why = reason if not works else "no brief of this edition in the sitemaps"
        checks.append(Check("sitemap", edition, "fail", f"{why}: reconcile and removal detection rely on it"))
    working = [n for n in SURFACES if _surface(surfaces, n)[0] and _surface(surfaces, n)[1]]
    if working:
        checks.append(
            Check("discovery", edition, "ok", f"{len(working)} of 4 surfaces work: {', '.join(working)}")
        )
    else:
        checks.append(Check("discovery", edition, "fail", "no discovery surface works"))
    checks.append(_scope_check(profile, edition, surfaces, strategy))
    return checks


def _install_check(edition: str, root: str | None, lang: bool, sharing: list[str]) -> Check:
    """An install without ``?lang=`` is fine when no other edition's posts live in it."""
    if root is None:
        return Check("install", edition, "ok", "REST unusable: no install to choose")
    where = f"separate install at {root}" if root else "main install"
    if lang:
        return Check("install", edition, "ok", f"{where}, filters by ?lang={edition}")
    if not sharing:
        return Check("install", edition, "ok", f"{where}, no ?lang= filter (only this edition's posts)")
    detail = (
        f"{where}, shared with {', '.join(sharing)}, has no ?lang= filter: editions told apart by category"
    )
    return Check("install", edition, "warn", detail)


def _scope_check(profile: SiteProfile, edition: str, surfaces: dict, strategy: dict) -> Check:
    scope = profile.editions[edition].scope
    categories = strategy.get("categories") or {}
    if categories:
        missing = [s for s in scope if s not in categories]
        ids = ", ".join(
            f"{slug}={'/'.join(map(str, cids))}"
            for slug, cids in sorted(categories.items(), key=lambda kv: kv[1])
        )
        if missing:
            return Check("scope", edition, "warn", f"REST knows no {', '.join(missing)}; has {ids}")
        return Check("scope", edition, "ok", f"categories {ids}")
    by_category = [n for n in ("rss", "listing") if _surface(surfaces, n)[0] and _surface(surfaces, n)[1]]
    if by_category:
        return Check(
            "scope", edition, "ok", f"{', '.join(scope)}: category {' and '.join(by_category)} list posts"
        )
    return Check(
        "scope", edition, "fail", f"{', '.join(scope)} found on no surface (REST, category feed, listing)"
    )


def _sample_checks(edition: str, sample: Sample) -> list[Check]:
    if sample.status not in FETCHED:
        what = {"missing": "no candidate to fetch", "unclean": "fetched but not cleanable"}.get(
            sample.status, sample.status
        )
        detail = f"{what}: {sample.reason}" if sample.reason else what
        return [Check("sample", edition, "fail", f"{sample.url or '-'}: {detail}")]
    if "empty_body" in sample.quality or not sample.chars:
        return [Check("sample", edition, "fail", f"{sample.url}: cleans to an empty body")]
    checks = [Check("sample", edition, "ok", f"{sample.title!r}, {sample.chars} chars, {sample.url}")]
    missing = [
        name
        for name, value in (("authors", sample.authors), ("date", sample.published), ("tags", sample.tags))
        if not value
    ]
    meta = f"authors {', '.join(sample.authors) or '-'}; published {sample.published or '-'}; {len(sample.tags)} tags"
    checks.append(Check("metadata", edition, "warn" if missing else "ok", meta))
    flags = sorted({*sample.quality, *(f"missing_{m}" for m in missing)})
    checks.append(
        Check("quality", edition, "warn" if flags else "ok", ", ".join(flags) or "no quality flags")
    )
    return checks


def _rate_check(scrapy: dict) -> Check:
    limited = int(scrapy.get("downloader/response_status_count/429", 0))
    retries = int(scrapy.get("retry/count", 0))
    if not limited:
        return Check("rate limit", None, "ok", f"no 429 answers; {retries} retries")
    honoured = int(scrapy.get("briefs/retry_after_honoured", 0))
    too_long = int(scrapy.get("briefs/retry_after_too_long", 0))
    detail = (
        f"{limited} answers 429: Retry-After honoured {honoured}x, too long {too_long}x; {retries} retries"
    )
    return Check("rate limit", None, "warn", detail + ": keep the crawl polite (BRIEFS_POLITE)")


# ---- the probe crawl ------------------------------------------------------------------------------------------
def run_probe(profile_name: str, site: str | None = None, polite: bool = True, logger=None) -> ProbeReport:
    """Probe `site` with the profile's rules; the crawl's files live in a temporary directory only."""
    from spiders.runner import CrawlJob, run_crawl

    profile = load_profile(profile_name, site)
    with tempfile.TemporaryDirectory(prefix="briefs-probe-") as tmp:
        out = Path(tmp)
        job = CrawlJob(
            out=out,
            mode="probe",
            profile=profile.name,
            site=profile.base_url,
            polite=polite,
            settings={"LOG_LEVEL": "WARNING"},
        )
        stats = run_crawl(job, logger)
        records = _read_jsonl(out / "records.jsonl")
        samples = [clean_sample(profile, edition, records, out / "warc") for edition in profile.editions]
        robots = read_robots(out / "warc")
    return build_report(profile, stats, samples, robots)


def _read_jsonl(path: Path) -> list[dict]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def clean_sample(profile: SiteProfile, edition: str, records: list[dict], warc_dir: Path) -> Sample:
    """The edition's sample: its fetched record (else its failure), cleaned with the profile."""
    mine = sorted(
        (r for r in records if r.get("edition") == edition), key=lambda r: r["status"] not in FETCHED
    )
    if not mine:
        return Sample(edition)
    record = mine[0]
    sample = Sample(edition, record["url"], record["status"], record.get("reason"))
    if record["status"] not in FETCHED:
        return sample
    try:
        body, charset = read_response(warc_dir / record["warc_file"], record["warc_offset"])
        cleaned = clean_page(
            body, record["url"], profile, edition, record.get("rest"), charset, record.get("feed")
        )
    except (UnreadablePage, OSError, StopIteration, ValueError, TypeError) as exc:
        sample.status, sample.reason = "unclean", str(exc) or type(exc).__name__
        return sample
    meta = cleaned["metadata"]
    sample.title, sample.authors, sample.published = meta["title"], meta["authors"], meta["published"]
    sample.tags, sample.chars, sample.quality = meta["tags"], len(cleaned["text"]), cleaned["quality"]
    return sample


def read_robots(warc_dir: Path) -> dict | None:
    """robots.txt as the crawler got it ({status, body}), from the WARC capture: no request of its own."""
    for path in sorted(warc_dir.glob("*.warc.gz")):
        with open(path, "rb") as handle:
            for record in ArchiveIterator(handle):
                uri = record.rec_headers.get_header("WARC-Target-URI") or ""
                if record.rec_type == "response" and urlsplit(uri).path == "/robots.txt":
                    status = int(record.http_headers.get_statuscode())
                    body = record.content_stream().read().decode("utf-8", errors="replace")
                    return {"status": status, "body": body}
    return None


# ---- output ---------------------------------------------------------------------------------------------------
def print_report(report: ProbeReport, console) -> None:
    """The report as a rich table, the request count and the verdict line."""
    from rich.table import Table

    colour = {"ok": "green", "warn": "yellow", "fail": "red"}
    table = Table("check", "edition", "status", "detail", title=f"probe of {report.site} ({report.profile})")
    for c in report.checks:
        table.add_row(c.check, c.edition or "all", f"[{colour[c.status]}]{c.status}[/]", c.detail)
    console.print(table)
    fetched = ", ".join(f"{n} {status}" for status, n in sorted(report.fetch.items())) or "none"
    console.print(f"{report.requests} requests made by the probe; sample fetches: {fetched}")
    console.print(f"[bold {colour[report.verdict]}]{report.summary()}[/]", highlight=False)
