"""Harbour Gazette: a generic WordPress news site (vanilla WordPress, tagDiv-like theme, English only).

It exists to prove that a site is one file: the simulator serves it (``Site(spec=GENERIC_NEWS)``) and the tests
archive it with nothing but this profile. Permalinks ``/%category%/%postname%/``; briefs are Local News and its
children (Courts, ...).
"""

from __future__ import annotations

import re

from . import CleanRules, Edition, SiteProfile, stopwords_for

PROFILE = SiteProfile(
    name="harbourgazette",
    base_url="https://harbourgazette.example",
    storage_prefix="harbourgazette",
    editions={
        "en": Edition(
            lang="en",
            scope=("local",),
            article_path=re.compile(r"^/local/(?:(?!page/|feed/)[^/]+/)*(?!page/|feed/)[^/]+/?$"),
            feed_paths=("/category/local/feed/",),
            listing_paths=("/category/local/",),
        ),
    },
    clean=CleanRules(
        version="harbourgazette-1",
        section_headings=("More from the Harbour", "Most Read"),
        block_openings=("Support local journalism",),
        share_words=("share", "tweet", "email"),
        feed_footer=re.compile(r"^The post .{1,400} appeared first on Harbour Gazette\.?$", re.S),
        leak_phrases=(
            "Support local journalism",
            "appeared first on Harbour Gazette",
            "More from the Harbour",
        ),
    ),
    title_suffix=re.compile(r"\s+[-–|]\s+Harbour Gazette$"),
    stopwords=stopwords_for("en"),
)
