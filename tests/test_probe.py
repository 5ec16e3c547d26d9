"""``briefs probe``: the verdict rules from hand-written stats, then the whole command against simulator variants."""

from __future__ import annotations

import copy
import json

from typer.testing import CliRunner

from infra.simulator import GENERIC_NEWS, RateLimit, Simulator, Site
from pipelines.cli import app
from pipelines.probe import Sample, build_report
from spiders.sites import load_profile

IC = load_profile("insightcrime", "http://127.0.0.1:9")
ROBOTS = "User-agent: *\nDisallow: /private/\n"


def surfaces(found: int = 20) -> dict:
    return {
        s: {"status": "ok", "reason": None, "found": found} for s in ("rest", "rss", "sitemap", "listing")
    }


GOOD = {
    "surfaces": {"en": surfaces(), "es": surfaces()},
    "strategy": {
        "en": {
            "rest_root": "",
            "lang": True,
            "categories": {"news": [3], "brief": [4], "analysis": [5]},
            "paging": {"total": 420, "pages": 5},
            "probed_at": "2025-05-01T00:00:00Z",
        },
        "es": {
            "rest_root": "",
            "lang": True,
            "categories": {"noticias-del-dia": [21]},
            "paging": {"total": 180, "pages": 2},
            "probed_at": "2025-05-01T00:00:00Z",
        },
    },
    "scrapy": {
        "downloader/request_count": 17,
        "robotstxt/request_count": 1,
        "robotstxt/response_status_count/200": 1,
    },
    "fetch": {"fetched": 2},
}


def sample(edition: str = "en", **changes) -> Sample:
    good = Sample(
        edition,
        url=f"http://127.0.0.1:9{'/news/' if edition == 'en' else '/es/noticias/noticias-del-dia/'}a-brief/",
        status="fetched",
        title="A brief",
        authors=["Jane Doe"],
        published="2025-04-30T10:00:00Z",
        tags=["Colombia"],
        chars=2400,
    )
    for key, value in changes.items():
        setattr(good, key, value)
    return good


def report(stats: dict | None = None, samples: list[Sample] | None = None, robots: str | int | None = ROBOTS):
    samples = [sample("en"), sample("es")] if samples is None else samples
    robots_info = (
        {"status": robots, "body": None} if isinstance(robots, int) else {"status": 200, "body": robots}
    )
    return build_report(IC, stats or GOOD, samples, None if robots is None else robots_info)


def changed(*path: str, value) -> dict:
    """GOOD with one nested value replaced."""
    stats = copy.deepcopy(GOOD)
    *parents, last = path
    node = stats
    for key in parents:
        node = node[key]
    node[last] = value
    return stats


def row(rep, check: str, edition: str | None = None):
    return next(c for c in rep.checks if c.check == check and c.edition == edition)


# ---- the verdict ------------------------------------------------------------------------------------------------
def test_everything_working_is_ok_with_details():
    rep = report()
    assert [c for c in rep.checks if c.status != "ok"] == []
    assert rep.verdict == "ok" and rep.exit_code == 0 and rep.requests == 17
    assert "X-WP-Total 420, 5 page(s)" in row(rep, "rest", "en").detail
    assert "news=3, brief=4, analysis=5" in row(rep, "scope", "en").detail
    assert "Jane Doe" in row(rep, "metadata", "es").detail
    assert json.loads(json.dumps(rep.as_dict()))["verdict"] == "ok"


def test_rest_unavailable_warns_but_passes():
    stats = changed(
        "surfaces", "en", "rest", value={"status": "failed", "reason": "HTTP 403 after retries", "found": 0}
    )
    stats["strategy"]["en"] |= {"rest_root": None, "categories": {}, "paging": None}
    rep = report(stats)
    assert row(rep, "rest", "en").status == "warn" and "HTTP 403" in row(rep, "rest", "en").detail
    assert row(rep, "scope", "en").status == "ok"  # the category feed and listing still show the scope
    assert rep.verdict == "warn" and rep.exit_code == 0


def test_a_missing_sitemap_fails():
    rep = report(
        changed("surfaces", "es", "sitemap", value={"status": "failed", "reason": "HTTP 404", "found": 0})
    )
    assert row(rep, "sitemap", "es").status == "fail" and "HTTP 404" in row(rep, "sitemap", "es").detail
    assert row(rep, "sitemap", "en").status == "ok"
    assert rep.exit_code == 1 and "sitemap (es)" in rep.summary()
    # A sitemap that answers but lists no brief of the edition is as good as none.
    assert report(changed("surfaces", "en", "sitemap", "found", value=0)).exit_code == 1


def test_no_working_surface_and_no_scope_fail():
    dead = {s: {"status": "failed", "reason": "connection refused", "found": 0} for s in surfaces()}
    stats = changed("surfaces", "en", value=dead)
    stats["strategy"]["en"] = {"rest_root": None, "lang": False, "categories": {}, "paging": None}
    rep = report(stats)
    assert row(rep, "discovery", "en").status == "fail" and row(rep, "scope", "en").status == "fail"
    assert row(rep, "discovery", "es").status == "ok"
    # An edition the crawl did not report at all is no better.
    assert row(report(changed("surfaces", value={"en": surfaces()})), "discovery", "es").status == "fail"


def test_scope_found_only_by_sitemap_fails():
    stats = changed("surfaces", "en", "rss", value={"status": "failed", "reason": "HTTP 404", "found": 0})
    stats["surfaces"]["en"]["listing"] = {"status": "ok", "reason": None, "found": 0}
    stats["strategy"]["en"]["categories"] = {}
    rep = report(stats)
    assert row(rep, "scope", "en").status == "fail"
    assert row(rep, "rss", "en").status == "warn" and row(rep, "listing", "en").status == "warn"


def test_scope_root_unknown_to_rest_warns():
    rep = report(changed("strategy", "en", "categories", value={"brief": [4]}))
    assert row(rep, "scope", "en").status == "warn" and "news" in row(rep, "scope", "en").detail


def test_install_and_lang_rules():
    separate = changed("strategy", "es", "rest_root", value="/es")
    separate["strategy"]["es"]["lang"] = False
    install = row(report(separate), "install", "es")
    assert install.status == "ok" and "/es" in install.detail
    assert row(report(separate), "rest", "es").status == "ok"
    mixed = row(report(changed("strategy", "es", "lang", value=False)), "install", "es")
    assert mixed.status == "warn" and "shared with en" in mixed.detail
    separate["strategy"]["en"]["lang"] = False  # vanilla WordPress: the main install holds English only
    assert row(report(separate), "install", "en").status == "ok"


def test_robots_rules():
    assert row(report(), "robots.txt").status == "ok"
    forbidden = report(robots="User-agent: *\nDisallow: /es/noticias/\n")
    assert row(forbidden, "robots.txt").status == "fail" and forbidden.exit_code == 1
    ours = report(robots="User-agent: insight-briefs\nDisallow: /news/\n\nUser-agent: *\nAllow: /\n")
    assert row(ours, "robots.txt").status == "fail"
    feeds = row(report(robots="User-agent: *\nDisallow: /category/\n"), "robots.txt")
    assert feeds.status == "warn" and "/category/news/feed/" in feeds.detail
    assert row(report(robots=404), "robots.txt").status == "ok"
    assert row(report(robots=503), "robots.txt").status == "warn"
    unseen = changed("scrapy", value={"downloader/request_count": 3})
    assert row(report(unseen, robots=None), "robots.txt").status == "warn"
    refused = changed("scrapy", "robotstxt/forbidden", value=2)
    assert row(report(refused, robots=None), "robots.txt").status == "fail"


def test_rate_limiting_warns_with_retry_after_handling():
    stats = changed("scrapy", "downloader/response_status_count/429", value=4)
    stats["scrapy"] |= {"briefs/retry_after_honoured": 4, "retry/count": 4}
    check = row(report(stats), "rate limit")
    assert check.status == "warn" and "Retry-After honoured 4x" in check.detail
    assert row(report(), "rate limit").status == "ok"


def test_sample_rules():
    missing = report(samples=[sample("en")])
    assert (
        row(missing, "sample", "es").status == "fail"
        and "no candidate" in row(missing, "sample", "es").detail
    )
    failed = report(samples=[sample("en"), sample("es", status="failed", reason="HTTP 500 after retries")])
    assert "HTTP 500" in row(failed, "sample", "es").detail and failed.exit_code == 1
    empty = report(samples=[sample("en", chars=40, quality=["empty_body"]), sample("es")])
    assert row(empty, "sample", "en").status == "fail"
    bare = report(
        samples=[sample("en", authors=[], tags=[], quality=["missing_date"], published=None), sample("es")]
    )
    assert row(bare, "metadata", "en").status == "warn" and bare.exit_code == 0
    assert row(bare, "quality", "en").detail == "missing_authors, missing_date, missing_tags"


# ---- the command against the simulator -------------------------------------------------------------------------
def probe(sim: Simulator, *args: str):
    """`briefs probe` against `sim` (politeness off: a local simulator); (exit code, report or None, result)."""
    result = CliRunner().invoke(app, ["probe", "--site", sim.base, "--no-polite", *args])
    report = json.loads(result.stdout) if "--json" in args and result.stdout.startswith("{") else None
    return result.exit_code, report, result


def statuses(report: dict, check: str) -> dict:
    return {c["edition"]: c["status"] for c in report["checks"] if c["check"] == check}


def test_multilingual_wordpress_is_ok():
    with Simulator(Site(posts=60)) as sim:
        code, rep, result = probe(sim, "--json")
        requests = len(sim.hits())
    assert code == 0, result.output
    assert rep["verdict"] == "ok", [c for c in rep["checks"] if c["status"] != "ok"]
    assert rep["requests"] == requests  # every request the probe made, robots.txt included
    en, es = rep["strategy"]["en"], rep["strategy"]["es"]
    assert (en["rest_root"], en["lang"], es["rest_root"]) == ("", True, "")
    assert en["categories"]["news"] == [sim.site.spec.by_slug["news"].id]
    assert en["paging"]["total"] > 0
    for s in rep["samples"]:
        assert s["status"] == "fetched" and s["title"] and s["chars"] > 400 and s["authors"], s
        assert s["url"].removeprefix(sim.base) in sim.site.by_path


def test_separate_spanish_install_is_ok():
    with Simulator(Site(posts=60), wordpress="vanilla") as sim:
        code, rep, result = probe(sim, "--json")
    assert code == 0, result.output
    assert rep["strategy"]["es"]["rest_root"] == "/es" and rep["strategy"]["en"]["rest_root"] == ""
    assert statuses(rep, "install") == {"en": "ok", "es": "ok"}
    assert statuses(rep, "sitemap") == {"en": "ok", "es": "ok"}


def test_generic_site_with_its_profile():
    with Simulator(Site(posts=60, spec=GENERIC_NEWS)) as sim:
        code, rep, result = probe(sim, "--profile", "harbourgazette", "--json")
    assert code == 0, result.output
    assert rep["profile"] == "harbourgazette" and list(rep["strategy"]) == ["en"]
    assert rep["strategy"]["en"]["categories"]["local"] == [GENERIC_NEWS.by_slug["local"].id]
    assert statuses(rep, "sample") == {"en": "ok"}


def test_rest_refused_warns_and_passes():
    with Simulator(Site(posts=60)) as sim:
        sim.api_status = 403
        code, rep, result = probe(sim, "--json")
    assert code == 0, result.output
    assert statuses(rep, "rest") == {"en": "warn", "es": "warn"}
    assert rep["strategy"]["en"]["rest_root"] is None
    assert statuses(rep, "sample") == {"en": "ok", "es": "ok"} and rep["verdict"] == "warn"


def test_broken_sitemaps_fail_with_a_table():
    with Simulator(Site(posts=60)) as sim:
        sim.inject(r"^/sitemap_index\.xml$", "status", 404)
        code, _, result = probe(sim)
    assert code == 1, result.output
    assert "FAIL: sitemap (en), sitemap (es)" in result.stdout
    assert "requests made by the probe" in result.stdout


def test_robots_forbidding_briefs_fails():
    with Simulator(Site(posts=60)) as sim:
        sim.robots_disallow = ["/es/noticias/"]
        code, rep, result = probe(sim, "--json")
    assert code == 1, result.output
    assert statuses(rep, "robots.txt") == {None: "fail"}
    assert statuses(rep, "sample")["es"] == "fail" and statuses(rep, "sample")["en"] == "ok"


def test_rate_limited_site_warns_about_retry_after():
    with Simulator(Site(posts=60)) as sim:
        sim.rate_limit = RateLimit(burst=4, window=1.0, retry_after=1)
        code, rep, result = probe(sim, "--json")
    assert code == 0, result.output
    check = next(c for c in rep["checks"] if c["check"] == "rate limit")
    assert check["status"] == "warn" and "Retry-After honoured" in check["detail"], check


def test_unknown_profile_is_one_line():
    result = CliRunner().invoke(app, ["probe", "--profile", "nosuchsite", "--site", "http://127.0.0.1:9"])
    assert result.exit_code == 1 and "unknown site profile" in result.output
    assert "Traceback" not in result.output
