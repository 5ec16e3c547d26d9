"""The simulator's clock against real time.

A *journal* (optionally a JSON file) records where the clock started and every advance since: the site is a pure
function of its seed and its advances, so a restarted simulator replays the journal and serves the same site. A
clock may start some days in the past (``--history-days``): those days are replayed by whoever archives them (one
``POST /__sim__/advance`` per simulated day, see ``infra.offline.seed_history``); once the clock has reached the
``present`` it started from, the *follower* keeps it on the current hour, an hour at a time, with a day's news
every 24 h.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from .site import Change, Site

DAY = timedelta(hours=24)
HOUR = timedelta(hours=1)
DAILY_NEWS = {"new": 5, "edited": 2, "renamed": 1, "removed": 1}
_COUNTS = ("new", "edited", "renamed", "removed")
_DEFAULTS = {"hours": 24.0, "new": 5, "edited": 2, "renamed": 1, "removed": 0, "lang": "en"}


def current_hour() -> datetime:
    return datetime.now(UTC).replace(minute=0, second=0, microsecond=0)


@dataclass
class Journal:
    """The clock's history: `start`, the advances since (``Site.advance`` arguments), and `present`, the hour the
    replayed history ends at (the follower waits until the clock reaches it). `site` names what was generated, so
    a restart with other arguments is refused instead of serving another site under the same URLs."""

    start: datetime
    present: datetime
    site: dict
    advances: list[dict] = field(default_factory=list)
    path: Path | None = None

    @classmethod
    def open(cls, path: Path | None, now: datetime, history_days: int, site: dict) -> Journal:
        """The journal at `path` if it exists (its site must be `site`), else a new one starting `history_days`
        before `now`."""
        if path is not None and path.exists():
            data = json.loads(path.read_text())
            if data["site"] != site:
                raise ValueError(
                    f"{path} journals another site ({data['site']}, not {site}): delete it to start over"
                )
            return cls(
                datetime.fromisoformat(data["start"]),
                datetime.fromisoformat(data["present"]),
                data["site"],
                data["advances"],
                path,
            )
        journal = cls(now - history_days * DAY, now, site, [], path)
        journal.save()
        return journal

    def build(self, **site_args) -> Site:
        """The site as the journal left it: generated at `start`, then every advance replayed."""
        site = Site(now=self.start, **site_args)
        for args in self.advances:
            site.advance(**args)
        return site

    def record(self, args: dict) -> None:
        """One more advance; consecutive quiet hours merge into one entry (a quiet advance draws nothing)."""
        args = _DEFAULTS | args
        quiet = not any(args[k] for k in _COUNTS)
        last = self.advances[-1] if self.advances else None
        if quiet and last is not None and not any(last[k] for k in _COUNTS) and last["lang"] == args["lang"]:
            last["hours"] += args["hours"]
        else:
            self.advances.append(args)
        self.save()

    def save(self) -> None:
        if self.path is None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        partial = self.path.with_name(self.path.name + ".partial")
        partial.write_text(json.dumps(self.as_dict(), indent=1))
        partial.replace(self.path)

    def as_dict(self) -> dict:
        return {
            "start": self.start.isoformat(),
            "present": self.present.isoformat(),
            "site": self.site,
            "advances": self.advances,
        }


class Clock:
    """A site's clock with its journal: every advance goes through here, so the journal misses none."""

    def __init__(self, site: Site, journal: Journal, offset: timedelta = timedelta(0)):
        self.site, self.journal, self.offset = site, journal, offset
        self._stop = threading.Event()

    def advance(self, **args) -> Change:
        with self.site.lock:
            change = self.site.advance(**args)
            self.journal.record(args)
            return change

    def state(self) -> dict:
        """What ``GET /__sim__/clock`` answers: the clock, where its history started and ends, posts served."""
        with self.site.lock:
            return {
                "now": self.site.now.isoformat(),
                "start": self.journal.start.isoformat(),
                "present": self.journal.present.isoformat(),
                "replayed": self.site.now >= self.journal.present,
                "advances": len(self.journal.advances),
                "posts": len(self.site.posts),
            }

    def catch_up(self, until: datetime | None = None) -> int:
        """Once the history is replayed, advance an hour at a time up to `until` (default: the current hour,
        shifted by `offset` for a clock that does not read real time); a step that crosses a whole number of days
        after `present` brings a day's news. Returns the steps taken."""
        until = until or current_hour() + self.offset
        steps = 0
        while True:
            with self.site.lock:
                now, present = self.site.now, self.journal.present
                if now < present or now + HOUR > until:
                    return steps
                crossed = (now + HOUR - present) // DAY > (now - present) // DAY
                self.advance(hours=1, **(DAILY_NEWS if crossed else dict.fromkeys(_COUNTS, 0)))
                steps += 1

    def follow(self, poll: float = 60) -> Clock:
        """Catch up now, then every `poll` seconds, in a daemon thread."""

        def loop() -> None:
            self.catch_up()
            while not self._stop.wait(poll):
                self.catch_up()

        threading.Thread(target=loop, name="simulator-clock", daemon=True).start()
        return self

    def stop(self) -> None:
        self._stop.set()
