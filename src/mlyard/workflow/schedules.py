"""Schedule expressions, in EventBridge's syntax: ``rate(5 minutes)`` and
``cron(minutes hours day-of-month month day-of-week year)`` (UTC; ``*``, ``?``, lists, ranges,
steps, month and day names; one of day-of-month and day-of-week is ``?``).

A schedule fires at the times its expression names. ``due(expression, since, now)`` says which
fire time in ``(since, now]`` to run: the latest only. Runs missed while the server was down are
not made up one by one; one run starts for the most recent missed time, then the schedule goes on.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

__all__ = ["Schedule", "parse", "due", "ScheduleError"]

_RATE = re.compile(r"^rate\(\s*([0-9]+)\s+(minute|minutes|hour|hours|day|days)\s*\)$")
_UNIT = {"minute": 60, "hour": 3600, "day": 86400}
_MONTHS = {m: i + 1 for i, m in enumerate(("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV",
                                           "DEC"))}
_DAYS = {d: i + 1 for i, d in enumerate(("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"))}


class ScheduleError(ValueError):
    """An expression that is not a rate or a cron expression."""


@dataclass(frozen=True)
class Schedule:
    expression: str
    every: float | None = None  # rate: seconds
    fields: tuple[frozenset[int] | None, ...] = ()  # cron: minutes, hours, days, months, weekdays (1=SUN), years

    def fire_times(self, since: float, until: float, anchor: float) -> list[float]:
        """Fire times in ``(since, until]``, oldest first (a rate counts from ``anchor``)."""
        if self.every is not None:
            first = anchor + (int((since - anchor) // self.every) + 1) * self.every if since >= anchor else anchor
            out: list[float] = []
            t = first
            while t <= until and len(out) < 100000:
                out.append(t)
                t += self.every
            return out
        return self._cron_times(since, until)

    def _cron_times(self, since: float, until: float, first_only: bool = False) -> list[float]:
        minutes, hours, days, months, weekdays, years = self.fields
        start = dt.datetime.fromtimestamp(since, dt.timezone.utc).replace(second=0, microsecond=0)
        end = dt.datetime.fromtimestamp(until, dt.timezone.utc)
        out: list[float] = []
        day = start.date()
        while day <= end.date():
            if ((years is None or day.year in years) and (months is None or day.month in months)
                    and (days is None or day.day in days)
                    and (weekdays is None or (day.isoweekday() % 7) + 1 in weekdays)):
                for hour in sorted(hours) if hours is not None else range(24):
                    for minute in sorted(minutes) if minutes is not None else range(60):
                        t = dt.datetime(day.year, day.month, day.day, hour, minute, tzinfo=dt.timezone.utc)
                        stamp = t.timestamp()
                        if since < stamp <= until:
                            out.append(stamp)
                            if first_only:
                                return out
            day += dt.timedelta(days=1)
        return out

    def next_after(self, t: float, anchor: float) -> float | None:
        """The first fire time after ``t`` (within five years)."""
        if self.every is not None:
            return anchor if t < anchor else anchor + (int((t - anchor) // self.every) + 1) * self.every
        times = self._cron_times(t, t + 5 * 366 * 86400, first_only=True)
        return times[0] if times else None


def parse(expression: str) -> Schedule:
    text = expression.strip()
    m = _RATE.match(text)
    if m:
        value, unit = int(m.group(1)), m.group(2).rstrip("s")
        if not 1 <= value * _UNIT[unit] <= 366 * 86400:
            raise ScheduleError(f"{expression!r}: a rate is from 1 minute to 366 days")
        if (value == 1) != (not m.group(2).endswith("s")):
            raise ScheduleError(f"{expression!r}: write 'rate(1 {unit})' for one and 'rate(N {unit}s)' for more")
        return Schedule(text, every=float(value * _UNIT[unit]))
    if text.startswith("cron(") and text.endswith(")"):
        parts = text[5:-1].split()
        if len(parts) != 6:
            raise ScheduleError(f"{expression!r}: cron takes 6 fields (minutes hours day-of-month month day-of-week "
                                f"year), not {len(parts)}")
        if (parts[2] == "?") == (parts[4] == "?"):
            raise ScheduleError(f"{expression!r}: one of day-of-month and day-of-week must be '?' (and only one)")
        limits: tuple[tuple[int, int, dict[str, int]], ...] = (
            (0, 59, {}), (0, 23, {}), (1, 31, {}), (1, 12, _MONTHS), (1, 7, _DAYS), (1970, 2199, {}))
        fields = tuple(_field(p, lo, hi, names, expression) for p, (lo, hi, names) in zip(parts, limits, strict=True))
        return Schedule(text, fields=fields)
    raise ScheduleError(f"{expression!r} is not a schedule expression: use rate(N minutes|hours|days) or "
                        "cron(minutes hours day-of-month month day-of-week year), as EventBridge does")


def _field(text: str, lo: int, hi: int, names: dict[str, int], expression: str) -> frozenset[int] | None:
    if text in ("*", "?"):
        return None
    values: set[int] = set()
    for part in text.split(","):
        step = 1
        if "/" in part:
            part, step_text = part.split("/", 1)
            if not (step_text.isascii() and step_text.isdigit()) or int(step_text) < 1:
                raise ScheduleError(f"{expression!r}: bad step {step_text!r}")
            step = int(step_text)
        if part == "*":
            first, last = lo, hi
        elif "-" in part:
            a, b = part.split("-", 1)
            first, last = _value(a, names, expression), _value(b, names, expression)
        else:
            first = _value(part, names, expression)
            last = hi if step > 1 else first
        if not lo <= first <= hi or not lo <= last <= hi or first > last:
            raise ScheduleError(f"{expression!r}: {part!r} is outside {lo}-{hi}")
        values.update(range(first, last + 1, step))
    return frozenset(values)


def _value(text: str, names: dict[str, int], expression: str) -> int:
    if text.upper() in names:
        return names[text.upper()]
    if not (text.isascii() and text.isdigit()):
        raise ScheduleError(f"{expression!r}: {text!r} is not a number" + (
            f" or one of {', '.join(names)}" if names else ""))
    return int(text)


def due(schedule: Schedule, since: float, now: float, anchor: float) -> float | None:
    """The fire time to run now: the latest in ``(since, now]`` (earlier missed ones are skipped)."""
    if schedule.every is not None:
        if now < anchor:
            return None
        last = anchor + int((now - anchor) // schedule.every) * schedule.every
        return last if last > since else None
    times = schedule.fire_times(max(since, now - 366 * 86400), now, anchor)
    return times[-1] if times else None
