"""Croix-Rouge alerts: who sees and hears them, the list (with its filter) and the monthly
figures."""

from __future__ import annotations

import statistics
import zoneinfo
from collections.abc import Mapping

from django.conf import settings
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext

from config.errors import DomainError
from incidents.choices import AlertStatus
from incidents.models import Alert
from incidents.selectors.incidents import statuses_parsed
from partners.choices import AgencyKind, Role
from partners.models import Agency, Member
from realtime import audiences
from realtime.audiences import Audience


def is_crf_member(member: Member | None) -> bool:
    return (member is not None and member.agency.kind == AgencyKind.CRF
            and member.role in {Role.PARTNER_AGENT, Role.FIELD_UNIT})



def may_open_alerts(member: Member | None) -> bool:
    """``/portail/alertes/``: the Croix-Rouge's desk and teams."""
    return is_crf_member(member)


def alerts_visible_to(member: Member | None) -> QuerySet[Alert]:
    """Croix-Rouge alerts: the centre that raises them and the Croix-Rouge's members."""
    qs = Alert.objects.select_related("commune", "unit", "acknowledged_by").defer("commune__boundary")
    if member is not None and (member.is_centre_staff or is_crf_member(member)):
        return qs
    return qs.none()


def alert_audience() -> Audience:
    """The centre and every Croix-Rouge agency (desk and units)."""
    return audiences.agencies(Agency.objects.filter(kind=AgencyKind.CRF).values_list("code", flat=True))


def alert_list(*, member: Member | None, filters: Mapping[str, str]) -> QuerySet[Alert]:
    """The alerts ``member`` sees, newest first (500 at most); ``status``: a comma list."""
    qs = alerts_visible_to(member)
    statuses = statuses_parsed(filters.get("status"), AlertStatus.values)
    if statuses is not None:
        qs = qs.filter(status__in=statuses)
    return qs.order_by("-raised_at")[:500]


MIN_STATS_YEAR, MAX_STATS_YEAR = 1900, 2999


def stats_year(raw: str | None) -> int:
    """The ``year`` of the figures: this year (local time) when not given."""
    try:
        year = int(raw or timezone.localdate().year)
    except ValueError as exc:
        raise DomainError(gettext("A year, e.g. 2026."), field="year") from exc
    if not MIN_STATS_YEAR <= year <= MAX_STATS_YEAR:  # datetime stops at year 9999
        raise DomainError(gettext("A year between %(min)d and %(max)d.")
                          % {"min": MIN_STATS_YEAR, "max": MAX_STATS_YEAR}, field="year")
    return year


def alert_stats(*, year: int) -> list[dict]:
    """Alerts raised per month of ``year`` (local time) and the time to take charge (minutes)."""
    tz = zoneinfo.ZoneInfo(settings.TIME_ZONE)
    months: dict[int, dict] = {m: {"month": m, "raised": 0, "taken_charge": 0, "closed": 0,
                                   "escalated": 0, "_minutes": []} for m in range(1, 13)}
    rows = Alert.objects.filter(raised_at__year=year).values_list(
        "raised_at", "taken_charge_at", "closed_at", "escalated_at")
    for raised_at, taken_at, closed_at, escalated_at in rows:
        month = months[raised_at.astimezone(tz).month]
        month["raised"] += 1
        month["closed"] += closed_at is not None
        month["escalated"] += escalated_at is not None
        if taken_at is not None:
            month["taken_charge"] += 1
            month["_minutes"].append((taken_at - raised_at).total_seconds() / 60)
    result = []
    for month in months.values():
        minutes = month.pop("_minutes")
        month["mean_minutes_to_take_charge"] = round(statistics.fmean(minutes), 1) if minutes else None
        month["median_minutes_to_take_charge"] = round(statistics.median(minutes), 1) if minutes else None
        result.append(month)
    return result
