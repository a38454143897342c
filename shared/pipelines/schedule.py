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


def fire_times(schedule: Schedule, after: datetime, until: datetime) -> list[datetime]:
    """The schedule's firings in (after, until]."""
    from croniter import croniter

    zone = ZoneInfo(schedule.timezone)
    times = []
    cursor = croniter(schedule.cron, after.astimezone(zone))
    while (moment := cursor.get_next(datetime)) <= until:
        times.append(moment)
    return times
