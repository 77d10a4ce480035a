"""Report schedules: their rules (cadence, recipients, format) and fire times (no I/O here).

A cadence is "every day / week on a weekday / month on a day, at HH:MM" in the shop's time
zone. APScheduler's `CronTrigger` computes the times, daylight-saving changes included; the one
thing added here is that a wall-clock time occurring twice (the autumn change) fires once.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

from apscheduler.triggers.cron import CronTrigger

from chatcrm.domain import DomainError

EVERY = ("day", "week", "month")
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
FORMATS = ("xlsx", "csv", "none")
"""What a report e-mail carries: the export as XLSX or CSV, or the summary only."""
PERIODS = ("cadence", "all")
"""What a report covers: the customers updated since the previous fire time (in whole days of
the shop: yesterday, the previous 7 days, the previous month), or every customer."""
MAX_RECIPIENTS = 20
MAX_SCHEDULES = 100
"""Most report schedules one shop keeps."""
MAX_NAME_CHARS = 100
BODY_FIELDS = ("name", "segment_id", "cadence", "recipients", "format", "period", "enabled")
_AT = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")
_ADDRESS = re.compile(r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$")


@dataclass(frozen=True)
class Cadence:
    """When a report goes out, in the shop's time zone."""

    every: str
    at: str
    """``HH:MM``, 24-hour clock."""
    weekday: str | None = None
    """``mon`` ... ``sun`` (every week)."""
    day: int | str | None = None
    """1-28, or ``last`` (every month)."""

    @classmethod
    def from_doc(cls, doc: Mapping[str, Any]) -> Cadence:
        """From its stored (or `as_doc`) form."""
        return cls(doc["every"], doc["at"], doc.get("weekday"), doc.get("day"))

    def as_doc(self) -> dict[str, Any]:
        """As stored and shown: unused parts are null."""
        return {"every": self.every, "at": self.at, "weekday": self.weekday, "day": self.day}

    def key(self, timezone: str) -> str:
        """Equal for schedules that fire at the same instants: one scheduler job serves them."""
        return f"{self.every}|{self.at}|{self.weekday or ''}|{self.day or ''}|{timezone}"

    def trigger(self, timezone: str) -> CronTrigger:
        """The APScheduler trigger of this cadence in `timezone`."""
        return _trigger(self, timezone)


@lru_cache(maxsize=4096)
def _trigger(cadence: Cadence, timezone: str) -> CronTrigger:
    hour, minute = (int(part) for part in cadence.at.split(":"))
    fields: dict[str, Any] = {"hour": hour, "minute": minute, "second": 0}
    if cadence.every == "week":
        fields["day_of_week"] = cadence.weekday
    elif cadence.every == "month":
        fields["day"] = cadence.day
    return CronTrigger(timezone=ZoneInfo(timezone), **fields)


def _repeated_wall_time(moment: datetime, tz: ZoneInfo) -> bool:
    """Whether `moment` is the second occurrence of its local wall-clock time (autumn DST)."""
    wall = moment.astimezone(tz).replace(tzinfo=None)
    return wall.replace(tzinfo=tz, fold=0).astimezone(UTC) != moment.astimezone(UTC)


def next_fire(cadence: Cadence, timezone: str, after: datetime) -> datetime:
    """The first fire time strictly after `after`, in UTC."""
    trigger = cadence.trigger(timezone)
    tz = ZoneInfo(timezone)
    moment = after.astimezone(UTC) + timedelta(microseconds=1)
    while True:  # arithmetic in UTC: local arithmetic would lose the fold of a repeated hour
        fire = trigger.get_next_fire_time(None, moment)
        assert fire is not None  # a cron cadence always fires again
        if not _repeated_wall_time(fire, tz):
            return fire.astimezone(UTC)
        moment = fire.astimezone(UTC) + timedelta(microseconds=1)


def fire_times(
    cadence: Cadence, timezone: str, after: datetime, until: datetime, limit: int = 400
) -> list[datetime]:
    """The fire times in (`after`, `until`], oldest first, in UTC (at most the `limit` newest)."""
    times: list[datetime] = []
    fire = next_fire(cadence, timezone, after)
    while fire <= until:
        times.append(fire)
        fire = next_fire(cadence, timezone, fire)
    return times[-limit:]


def report_period(cadence: Cadence, timezone: str, fire: datetime) -> tuple[date, date]:
    """The shop-local days a report fired at `fire` covers: first and last, both included.

    Every day: the day before; every week: the 7 days before; every month: from the same day
    of the previous month (or its last day) to the day before.
    """
    day = fire.astimezone(ZoneInfo(timezone)).date()
    last = day - timedelta(days=1)
    if cadence.every == "day":
        return last, last
    if cadence.every == "week":
        return day - timedelta(days=7), last
    year, month = (day.year, day.month - 1) if day.month > 1 else (day.year - 1, 12)
    first = date(year, month, min(day.day, calendar.monthrange(year, month)[1]))
    return first, last


def _cadence_part(raw: Mapping[str, Any], name: str, every: str, used_by: str) -> Any:
    value = raw.get(name)
    if every != used_by and value is not None:
        raise DomainError(f"{name} is used only with every {used_by}", field=f"cadence.{name}")
    if every == used_by and value is None:
        raise DomainError(f"every {used_by} needs {name}", field=f"cadence.{name}")
    return value


def parse_cadence(raw: Any) -> Cadence:
    """A cadence from ``{"every", "at", "weekday", "day"}``; DomainError names the bad part."""
    if not isinstance(raw, dict):
        raise DomainError("cadence must be an object", field="cadence")
    for key in raw:
        if key not in ("every", "at", "weekday", "day"):
            raise DomainError(f"unknown field {str(key)[:50]}", field=f"cadence.{str(key)[:50]}")
    every = raw.get("every")
    if every not in EVERY:
        raise DomainError(f"every must be one of {', '.join(EVERY)}", field="cadence.every")
    at = raw.get("at")
    if not isinstance(at, str) or not _AT.match(at):
        raise DomainError("at must be a time like 08:00 (24-hour clock)", field="cadence.at")
    weekday = _cadence_part(raw, "weekday", every, "week")
    if weekday is not None and weekday not in WEEKDAYS:
        raise DomainError(f"weekday must be one of {', '.join(WEEKDAYS)}", "cadence.weekday")
    day = _cadence_part(raw, "day", every, "month")
    if day is not None and day != "last" and not (type(day) is int and 1 <= day <= 28):
        raise DomainError("day must be 1 to 28, or last", field="cadence.day")
    return Cadence(every, at, weekday, day)


def parse_recipients(raw: Any) -> list[str]:
    """1 to MAX_RECIPIENTS e-mail addresses, repeats (whatever their case) left out."""
    if not isinstance(raw, list) or not raw or len(raw) > 5 * MAX_RECIPIENTS:
        raise DomainError("recipients must be a list of e-mail addresses", field="recipients")
    seen: dict[str, str] = {}
    for i, value in enumerate(raw):
        address = value.strip() if isinstance(value, str) else ""
        if len(address) > 254 or not _ADDRESS.match(address):
            raise DomainError(f"recipients[{i}] is not an e-mail address", field="recipients")
        seen.setdefault(address.lower(), address)
    if len(seen) > MAX_RECIPIENTS:
        raise DomainError(f"at most {MAX_RECIPIENTS} recipients", field="recipients")
    return list(seen.values())


def _name(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise DomainError("name must be a non-empty text", field="name")
    name = " ".join(value.split())
    if len(name) > MAX_NAME_CHARS or not name.isprintable():
        raise DomainError(f"name must be at most {MAX_NAME_CHARS} printable characters", "name")
    return name


def _choice(body: Mapping[str, Any], name: str, allowed: tuple[str, ...]) -> str:
    value = body.get(name)
    if value not in allowed:
        raise DomainError(f"{name} must be one of {', '.join(allowed)}", field=name)
    return str(value)


def _segment_id(value: Any) -> str | None:
    if value is not None and (not isinstance(value, str) or not 0 < len(value) <= 100):
        raise DomainError("segment_id must be a segment's id or null", field="segment_id")
    return value


def parse_schedule(body: Mapping[str, Any], *, partial: bool = False) -> dict[str, Any]:
    """A schedule's validated fields from a request body; DomainError names the bad field.

    `partial` (an edit): only the fields given. Otherwise name, cadence and recipients are
    required; format defaults to xlsx, period to cadence, enabled to true.
    """
    for key in body:
        if key not in BODY_FIELDS:
            raise DomainError(f"unknown field {str(key)[:50]}", field=str(key)[:50])
    if not partial:
        for required in ("name", "cadence", "recipients"):
            if required not in body:
                raise DomainError(f"{required} is required", field=required)
        body = {"format": "xlsx", "period": "cadence", "enabled": True, "segment_id": None, **body}
    parsers: dict[str, Any] = {
        "name": lambda: _name(body["name"]),
        "segment_id": lambda: _segment_id(body["segment_id"]),
        "cadence": lambda: parse_cadence(body["cadence"]).as_doc(),
        "recipients": lambda: parse_recipients(body["recipients"]),
        "format": lambda: _choice(body, "format", FORMATS),
        "period": lambda: _choice(body, "period", PERIODS),
        "enabled": lambda: _enabled(body["enabled"]),
    }
    return {name: parse() for name, parse in parsers.items() if name in body}


def _enabled(value: Any) -> bool:
    if not isinstance(value, bool):
        raise DomainError("enabled must be true or false", field="enabled")
    return value


def schedule_view(doc: Mapping[str, Any], now: datetime) -> dict[str, Any]:
    """A stored schedule as the API shows it, with its next fire time when enabled."""
    cadence = Cadence.from_doc(doc["cadence"])
    enabled = bool(doc.get("enabled"))
    return {
        "id": doc["_id"],
        "name": doc["name"],
        "segment_id": doc.get("segment_id"),
        "cadence": cadence.as_doc(),
        "timezone": doc["timezone"],
        "recipients": list(doc.get("recipients") or []),
        "format": doc.get("format", "xlsx"),
        "period": doc.get("period", "cadence"),
        "enabled": enabled,
        "next_fire_at": next_fire(cadence, doc["timezone"], now) if enabled else None,
        "created_at": doc.get("created_at"),
        "updated_at": doc.get("updated_at"),
    }
