"""A site is one file: a second profile (a generic WordPress news site, another name and theme, no JSON-LD) is
crawled, cleaned and archived with nothing but ``spiders/sites/harbourgazette.py``."""

from __future__ import annotations

import ast
import logging
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest

from infra.simulator import Simulator, Site
from infra.simulator.site import GENERIC_NEWS
from pipelines.archive import Archive
from pipelines.run import run_once
from spiders.runner import CrawlJob
from spiders.sites import UnknownProfile, load_profile, profile_names

REPO = Path(__file__).resolve().parent.parent
AFTER, BEFORE = datetime(2026, 9, 1, tzinfo=UTC), datetime(2026, 11, 20, tzinfo=UTC)


def test_profiles_are_found_by_module_name_and_rebased():
    assert {"insightcrime", "harbourgazette"} <= set(profile_names())
    profile = load_profile("insightcrime", "http://127.0.0.1:8765/")
    assert profile.base_url == "http://127.0.0.1:8765" and profile.host_aliases == ()
    assert profile.editions == load_profile("insightcrime").editions
    with pytest.raises(UnknownProfile, match="expected one of"):
        load_profile("../etc")


def site_values(path: Path) -> list[str]:
    """Every string constant of a module that is not a docstring, with its line."""
    tree = ast.parse(path.read_text())
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
        and node.body
        and isinstance(node.body[0], ast.Expr)
    }
    return [
        f"{path.relative_to(REPO)}:{node.lineno} {node.value!r}"
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings
    ]


def test_no_site_specific_value_outside_the_profiles():
    """The crawler and the clean stage name no site: its words, paths and hosts are the profile's. Only the
    default profile's name may appear (``spiders.sites.DEFAULT_PROFILE``)."""
    pattern = re.compile(r"insight ?crime|noticias|/news/|harbour", re.I)
    offenders = [
        value
        for folder in ("spiders", "pipelines")
        for path in sorted((REPO / folder).rglob("*.py"))
        if "sites" not in path.parts
        for value in site_values(path)
        if pattern.search(value)
    ]
    assert offenders == []


def test_the_generic_site_is_archived_with_its_own_profile(bucket, tmp_path):
    with Simulator(Site(posts=120, spec=GENERIC_NEWS), wordpress="vanilla") as sim:
        truth = sim.site.published_between(AFTER, BEFORE)
        assert len(truth) >= 10 and sim.site.briefs_in("courts") & truth
        job = CrawlJob(
            out=tmp_path / "crawl",
            mode="window",
            profile="harbourgazette",
            site=sim.base,
            after=AFTER.isoformat(),
            before=BEFORE.isoformat(),
            polite=False,
        )
        summary = run_once(bucket, "generic", job, tmp_path / "work", logging.getLogger("generic"))
    assert summary["clean"]["cleaned"] == len(truth) and summary["clean"]["failed"] == 0
    assert summary["clean"]["quality"] == {}, "no leaked chrome, no missing metadata"
    archive = Archive(bucket)
    manifest = archive.manifest()
    assert manifest.site == "harbourgazette"
    assert manifest.extractor.rules.startswith("harbourgazette-")
    rules = load_profile("harbourgazette").clean
    for post_id in sorted(truth):
        version = archive.article(post_id)
        post = sim.site.posts[post_id]
        assert version.metadata.title == post.title
        assert version.metadata.authors == post.authors
        assert version.metadata.published == post.published.isoformat().replace("+00:00", "Z")
        assert not [p for p in rules.leak_phrases if p in version.text]
        assert "Harbour Gazette" not in version.text
