"""Working days: weekends and public holidays skipped, adjusted working days (调休) counted.

The national schedule is the State Council's annual notice as published in the ``chinese-calendar``
package; ``app/data/workday_overrides.yaml`` adds local adjustments on top. A year nobody has
published yet is counted Monday to Friday, and a deadline counted through such a year is marked
estimated (its holidays will move it once the notice is out).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import chinese_calendar
import yaml

OVERRIDES_FILE = Path(__file__).resolve().parents[1] / "data" / "workday_overrides.yaml"
# The years chinese-calendar has a published schedule for.
LIBRARY_YEARS = range(min(chinese_calendar.holidays).year, max(chinese_calendar.holidays).year + 1)


@dataclass(frozen=True)
class Deadline:
    day: dt.date
    # True when the count ran through a year whose holiday schedule is not published yet.
    estimated: bool


class WorkCalendar:
    """The national schedule plus local ``holidays`` (days off) and ``workdays`` (days worked)."""

    def __init__(
        self, holidays: Iterable[dt.date] = (), workdays: Iterable[dt.date] = (), published_years: Iterable[int] = ()
    ):
        self.holidays = frozenset(holidays)
        self.workdays = frozenset(workdays)
        self.published_years = frozenset(LIBRARY_YEARS) | frozenset(published_years)

    @classmethod
    def from_file(cls, path: Path = OVERRIDES_FILE) -> WorkCalendar:
        """The national schedule with the local adjustments of ``path``."""
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        return cls(data.get("holidays") or (), data.get("workdays") or (), data.get("published_years") or ())

    def covers(self, year: int) -> bool:
        """Whether ``year``'s holidays are known (published nationally, or entered as an override)."""
        return year in self.published_years

    def coverage(self) -> dict[str, Any]:
        """Which years the calendar knows, for the CLI and /readyz."""
        return {
            "first_year": min(self.published_years),
            "last_year": max(self.published_years),
            "library": f"chinese-calendar {chinese_calendar.__version__}",
            "library_years": [LIBRARY_YEARS.start, LIBRARY_YEARS.stop - 1],
            "override_years": sorted(self.published_years - frozenset(LIBRARY_YEARS)),
            "local_holidays": len(self.holidays),
            "local_workdays": len(self.workdays),
        }

    def is_working_day(self, day: dt.date) -> bool:
        if day in self.workdays:
            return True
        if day in self.holidays:
            return False
        if day.year in LIBRARY_YEARS:
            return bool(chinese_calendar.is_workday(day))
        return day.weekday() < 5

    def deadline(self, start: dt.date, days: int) -> Deadline:
        """The day on which ``days`` working days after ``start`` have passed (``start`` itself not counted).

        Zero days (即办) is due the same day. ``estimated`` says the count crossed an unpublished year.
        """
        day = start
        remaining = days
        estimated = False
        while remaining > 0:
            day += dt.timedelta(days=1)
            estimated = estimated or not self.covers(day.year)
            if self.is_working_day(day):
                remaining -= 1
        return Deadline(day, estimated)

    def add_working_days(self, start: dt.date, days: int) -> dt.date:
        """:meth:`deadline`'s day alone."""
        return self.deadline(start, days).day

    def working_days_between(self, start: dt.date, end: dt.date) -> int:
        """Working days after ``start`` up to and including ``end``."""
        count, day = 0, start
        while day < end:
            day += dt.timedelta(days=1)
            count += self.is_working_day(day)
        return count
