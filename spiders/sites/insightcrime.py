"""InSight Crime (insightcrime.org): briefs in English and Spanish, WordPress with Yoast, Newspack-like theme.

Permalinks are ``/%category%/%postname%/``: older briefs ``/news/brief/<slug>/``, newer ``/news/<slug>/``, analysis
``/news/analysis/<slug>/``; Spanish ``/es/noticias/noticias-del-dia/<slug>/``.
"""

from __future__ import annotations

import re

from . import CleanRules, Edition, SiteProfile, stopwords_for

_NOT_PAGING = r"(?!page/|feed/)"

PROFILE = SiteProfile(
    name="insightcrime",
    base_url="https://insightcrime.org",
    host_aliases=("www.insightcrime.org",),
    storage_prefix="insightcrime",
    editions={
        "en": Edition(
            lang="en",
            scope=("news",),  # News and every child: Brief, Analysis, ...
            article_path=re.compile(rf"^/news/(?:{_NOT_PAGING}[^/]+/)*{_NOT_PAGING}[^/]+/?$"),
            feed_paths=("/category/news/feed/",),
            listing_paths=("/category/news/",),
        ),
        "es": Edition(
            lang="es",
            scope=("noticias-del-dia",),
            article_path=re.compile(
                rf"^/es/noticias/noticias-del-dia/(?:{_NOT_PAGING}[^/]+/)*{_NOT_PAGING}[^/]+/?$"
            ),
            feed_paths=("/es/category/noticias/noticias-del-dia/feed/",),
            listing_paths=("/es/category/noticias/noticias-del-dia/",),
            install="/es",
        ),
    },
    clean=CleanRules(
        version="insightcrime-2",
        section_headings=(
            "Related Content",
            "Latest News",
            "About InSight Crime",
            "Contenido relacionado",
            "Últimas noticias",
            "Sobre InSight Crime",
        ),
        block_openings=(
            "Was this content helpful?",
            "¿Este contenido te fue útil?",
            "What are your thoughts?",
            "¿Qué opinas?",
            "We encourage readers to copy and distribute our work",
            "Alentamos a los lectores a copiar y distribuir",
        ),
        share_words=("share", "compartir"),
        standalone_lines=("DONATE", "DONAR"),
        feed_footer=re.compile(r"^The post .{1,400} appeared first on InSight Crime\.?$", re.S),
        see_also=("SEE ALSO", "VER TAMBIÉN", "LEA TAMBIÉN", "READ MORE"),
        leak_phrases=(
            "Was this content helpful?",
            "What are your thoughts?",
            "Click here to send InSight Crime",
            "We encourage readers to copy and distribute",
            "appeared first on InSight Crime",
            "Related Content",
            "About InSight Crime",
            "¿Este contenido te fue útil?",
            "Contenido relacionado",
        ),
    ),
    title_suffix=re.compile(r"\s+[-–|]\s+InSight Crime$"),
    countries=frozenset(
        {
            "Argentina",
            "Belize",
            "Bolivia",
            "Brazil",
            "Chile",
            "Colombia",
            "Costa Rica",
            "Cuba",
            "Dominican Republic",
            "Ecuador",
            "El Salvador",
            "Guatemala",
            "Haiti",
            "Honduras",
            "Jamaica",
            "Mexico",
            "Nicaragua",
            "Panama",
            "Paraguay",
            "Peru",
            "Puerto Rico",
            "Trinidad and Tobago",
            "Uruguay",
            "Venezuela",
            "United States",
            "Spain",
            "Brasil",
            "México",
            "Panamá",
            "Perú",
            "República Dominicana",
            "Haití",
            "Estados Unidos",
            "España",
        }
    ),
    stopwords=stopwords_for("en", "es"),
)
