"""When a scheduled pipeline fires, and which usage days each firing covers."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from shared.pipelines.config import Schedule


def covered_days(schedule: Schedule, fired_at: datetime) -> list[date]:
    """The lookback window, newest first: billing data for a day keeps arriving for days, so each
    firing re-processes the last ``lookback_days`` complete days (in the schedule's time zone)."""
    today = fired_at.astimezone(ZoneInfo(schedule.timezone)).date()
    return [today - timedelta(days=back) for back in range(1, schedule.lookback_days + 1)]


def invoice_close_days(schedule: Schedule, fired_at: datetime) -> list[tuple[date, int]]:
    """An invoice-close firing's work: every day of the month before the firing (in the schedule's
    time zone), oldest first, each with the source window that reaches the firing day, so rows
    exported after the daily runs' window (month-end adjustments, late credits) are read too."""
    closed_on = fired_at.astimezone(ZoneInfo(schedule.timezone)).date()
    last = closed_on.replace(day=1) - timedelta(days=1)
    first = last.replace(day=1)
    return [
        (first + timedelta(days=offset), (closed_on - first).days - offset) for offset in range((last - first).days + 1)
    ]


def fire_times(schedule: Schedule, after: datetime, until: datetime, cron: str | None = None) -> list[datetime]:
    """The schedule's firings in (after, until] (of ``cron`` when given: the invoice-close run's)."""
    from croniter import croniter

    zone = ZoneInfo(schedule.timezone)
    times = []
    cursor = croniter(cron or schedule.cron, after.astimezone(zone))
    while (moment := cursor.get_next(datetime)) <= until:
        times.append(moment)
    return times
