"""Working days (工作日) for deadlines: weekends, public holidays and adjusted working days (调休).

The calendar is data (core/data/holidays.yaml, or the file named by WORKDAYS_FILE); years it does not list
count Monday to Friday only.
"""
from __future__ import annotations

import os
from datetime import date, timedelta
from functools import lru_cache
from pathlib import Path

import yaml

DEFAULT_FILE = Path(__file__).resolve().parent / "data" / "holidays.yaml"


def _dates(entry: str) -> list[date]:
    first, _, last = str(entry).partition("..")
    start = date.fromisoformat(first.strip())
    end = date.fromisoformat(last.strip()) if last else start
    if end < start:
        raise ValueError(f"holiday range ends before it starts: {entry}")
    return [start + timedelta(days=i) for i in range((end - start).days + 1)]


@lru_cache(maxsize=4)
def _calendar(path: str) -> tuple[frozenset[date], frozenset[date]]:
    raw = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    off: set[date] = set()
    on: set[date] = set()
    for year in raw.values():
        for entry in (year or {}).get("holidays", []) or []:
            off.update(_dates(entry))
        for entry in (year or {}).get("workdays", []) or []:
            on.update(_dates(entry))
    return frozenset(off), frozenset(on)


def calendar_file() -> str:
    return os.environ.get("WORKDAYS_FILE") or str(DEFAULT_FILE)


def is_working_day(day: date) -> bool:
    off, on = _calendar(calendar_file())
    if day in on:
        return True
    return day.weekday() < 5 and day not in off


def add_working_days(start: date, days: int) -> date:
    """The date `days` working days after `start` (start itself not counted); 0 -> start."""
    current = start
    left = max(0, days)
    while left:
        current += timedelta(days=1)
        if is_working_day(current):
            left -= 1
    return current


def working_days_between(start: date, end: date) -> int:
    """Working days after `start` up to and including `end` (negative when end is before start)."""
    if end < start:
        return -working_days_between(end, start)
    return sum(1 for i in range(1, (end - start).days + 1) if is_working_day(start + timedelta(days=i)))
