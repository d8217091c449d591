"""Working days: weekends and public holidays skipped, adjusted working days (调休) counted."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from pathlib import Path

import yaml

HOLIDAYS_FILE = Path(__file__).resolve().parents[1] / "data" / "holidays.yaml"


class WorkCalendar:
    def __init__(self, holidays: Iterable[dt.date] = (), workdays: Iterable[dt.date] = ()):
        self.holidays = frozenset(holidays)
        self.workdays = frozenset(workdays)

    @classmethod
    def from_file(cls, path: Path = HOLIDAYS_FILE) -> WorkCalendar:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        holidays: list[dt.date] = []
        workdays: list[dt.date] = []
        for year in data.values():
            holidays.extend(year.get("holidays") or ())
            workdays.extend(year.get("workdays") or ())
        return cls(holidays, workdays)

    def is_working_day(self, day: dt.date) -> bool:
        if day in self.workdays:
            return True
        return day.weekday() < 5 and day not in self.holidays

    def add_working_days(self, start: dt.date, days: int) -> dt.date:
        """The day on which ``days`` working days after ``start`` have passed (``start`` itself not counted).

        Zero days (即办) is due the same day.
        """
        day = start
        remaining = days
        while remaining > 0:
            day += dt.timedelta(days=1)
            if self.is_working_day(day):
                remaining -= 1
        return day

    def working_days_between(self, start: dt.date, end: dt.date) -> int:
        """Working days after ``start`` up to and including ``end``."""
        count, day = 0, start
        while day < end:
            day += dt.timedelta(days=1)
            count += self.is_working_day(day)
        return count
