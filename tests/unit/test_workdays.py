"""Working days for deadlines: weekends, public holidays and adjusted working days (调休)."""
from datetime import date

from core.workdays import add_working_days, is_working_day, working_days_between


def test_weekends_and_holidays_do_not_count():
    assert add_working_days(date(2026, 11, 27), 5) == date(2026, 12, 4)        # Friday + 5 = next Friday
    assert add_working_days(date(2026, 9, 30), 1) == date(2026, 10, 8)         # 国庆节 1-7 October
    assert not is_working_day(date(2026, 10, 5)) and not is_working_day(date(2026, 11, 29))


def test_adjusted_weekend_working_days_count():
    assert is_working_day(date(2026, 10, 10))                                   # a Saturday worked (调休)
    assert add_working_days(date(2026, 10, 9), 1) == date(2026, 10, 10)


def test_counting_between_dates_matches_adding():
    start = date(2026, 12, 24)
    for n in (0, 1, 5, 12):
        assert working_days_between(start, add_working_days(start, n)) == n
    assert working_days_between(date(2026, 12, 4), date(2026, 11, 27)) == -5


def test_years_not_in_the_calendar_count_monday_to_friday(tmp_path, monkeypatch):
    calendar = tmp_path / "holidays.yaml"
    calendar.write_text("2031:\n  holidays:\n    - 2031-01-01\n", encoding="utf-8")
    monkeypatch.setenv("WORKDAYS_FILE", str(calendar))
    assert add_working_days(date(2030, 12, 31), 1) == date(2031, 1, 2)
    assert is_working_day(date(2026, 10, 5))                                    # this file does not list 2026
