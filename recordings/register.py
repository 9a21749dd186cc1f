"""The register of recordings, holds, extractions and destructions, and the
statistics the agglomeration publishes (extractions per month and per requesting service).

Read by centre staff and auditors: ``GET /api/streaming/register/`` (``?export=csv``) and
``GET /api/streaming/register/stats/``. docs/recordings.md.

Each line has a ``kind`` and a time ``at`` the ``since``/``until`` filters apply to:

- ``recording``: segments of one camera on one (local) day: count, size, gaps; ``at`` the day's
  first segment start, ``start``/``end`` the first start and the last end;
- ``hold``: a legal hold on a camera's window (the per-segment holds are counted in it);
  ``at`` its creation;
- ``extraction``: a requisition's extraction once done (``at`` when it was done, from the journal;
  ``status`` ``destroyed`` once the retention sweep removed its files, ``destroyed_at`` when);
- ``destruction``: a line of the destruction register (``at`` the sweep's time); ``object`` says
  what was destroyed: ``recording`` (segments), ``snapshot``, ``extraction`` (a requisition's file).
"""

from __future__ import annotations

import datetime as dt
from collections import Counter, defaultdict
from collections.abc import Iterator, Mapping

from django.db.models import Count, Max, Min, Q, Sum
from django.db.models.functions import TruncDate
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime
from django.utils.translation import gettext as _

from config.downloads import reject_nul_bytes
from config.errors import DomainError
from partners.models import AuditRecord
from recordings.models import (
    REQUISITION_JOURNAL_TYPES,
    DestructionRecord,
    LegalHold,
    RecordingSegment,
    Requisition,
    RequisitionStatus,
)

KINDS = ("recording", "hold", "extraction", "destruction")
COLUMNS = ["kind", "at", "camera", "object", "start", "end", "segments", "size", "gaps", "requisition",
           "procedure_number", "service", "status", "released_at", "detail"]
LIMIT = 5000


def _moment(params: Mapping, name: str) -> dt.datetime | None:
    raw = (params.get(name) or "").strip()
    if not raw:
        return None
    try:  # well formed, yet not a date (February 30th): ValueError
        value = parse_datetime(raw)
        day = parse_date(raw) if value is None else None
    except ValueError:
        value = day = None
    if value is None:
        if day is None:
            said = (_("The start is not a date (e.g. 2026-11-26 or 2026-11-26T21:00).") if name == "since"
                    else _("The end is not a date (e.g. 2026-11-26 or 2026-11-26T21:00)."))
            raise DomainError(said, field=name)
        value = dt.datetime.combine(day, dt.time())
    if timezone.is_naive(value):
        value = timezone.make_aware(value)
    return value


def parse_filters(params: Mapping) -> dict:
    """``camera`` (code or id), ``kind`` (comma list of recording, hold, extraction, destruction),
    ``since`` (inclusive) / ``until`` (exclusive): ISO 8601 date or date-time. Checked whole
    before any query runs: an export fails before its first byte, never inside the stream."""
    reject_nul_bytes(params, ("camera", "kind", "since", "until", "export"))
    kinds = [k.strip() for k in (params.get("kind") or "").split(",") if k.strip()] or list(KINDS)
    bad = [k for k in kinds if k not in KINDS]
    if bad:
        raise DomainError(_("Unknown kind: %(kinds)s (one of %(known)s).")
                          % {"kinds": ", ".join(bad), "known": ", ".join(KINDS)}, field="kind")
    since, until = _moment(params, "since"), _moment(params, "until")
    if since and until and until <= since:
        raise DomainError(_("The end must come after the start."), field="until")
    return {"camera": (params.get("camera") or "").strip(), "kinds": kinds, "since": since, "until": until}


def _camera_q(camera: str, field: str = "camera") -> Q:
    if not camera:
        return Q()
    q = Q(**{f"{field}__code": camera})
    if camera.isdigit():
        q |= Q(**{f"{field}__pk": int(camera)})
    return q


def _window(field: str, since, until) -> Q:
    q = Q()
    if since:
        q &= Q(**{f"{field}__gte": since})
    if until:
        q &= Q(**{f"{field}__lt": until})
    return q


def _iso(value) -> str | None:
    return timezone.localtime(value).isoformat() if value else None


def recordings(camera: str, since, until) -> list[dict]:
    rows = (RecordingSegment.objects.filter(_camera_q(camera), _window("start", since, until))
            .annotate(day=TruncDate("start", tzinfo=timezone.get_current_timezone()))
            .values("camera__code", "day")
            .annotate(segments=Count("id", filter=Q(is_gap=False)), gaps=Count("id", filter=Q(is_gap=True)),
                      size=Sum("size"), first=Min("start"), last=Max("end"))
            .order_by("-day", "camera__code"))
    return [{"kind": "recording", "at": _iso(r["first"]), "camera": r["camera__code"],
             "day": r["day"].isoformat(),
             "start": _iso(r["first"]), "end": _iso(r["last"]), "segments": r["segments"],
             "size": r["size"] or 0, "gaps": r["gaps"]} for r in rows[:LIMIT]]


def holds(camera: str, since, until) -> list[dict]:
    rows = list(LegalHold.objects.filter(_camera_q(camera), _window("created_at", since, until),
                                         segment__isnull=True)
                .select_related("camera", "requisition", "released_by").order_by("-created_at")[:LIMIT])
    counts = Counter(LegalHold.objects.filter(segment__isnull=False, released_at__isnull=True,
                                              requisition__in=[h.requisition_id for h in rows])
                     .values_list("requisition_id", "camera_id"))
    return [{"kind": "hold", "id": h.pk, "at": _iso(h.created_at), "camera": h.camera.code,
             "start": _iso(h.window_start), "end": _iso(h.window_end),
             "segments": counts[(h.requisition_id, h.camera_id)], "requisition": h.requisition_id,
             "procedure_number": h.requisition.procedure_number, "service": h.requisition.service,
             "status": "released" if h.released_at else "in_force", "released_at": _iso(h.released_at),
             "detail": (f"{h.released_by.get_username() if h.released_by else ''}: {h.release_reason}"
                        if h.released_at else "")}
            for h in rows]


def extraction_times() -> dict[int, dt.datetime]:
    """When each requisition's extraction was done (its last ``extraction`` journal line)."""
    times: dict[int, dt.datetime] = {}
    lines = AuditRecord.objects.filter(action="extraction", object_type__in=REQUISITION_JOURNAL_TYPES)
    for object_id, at in lines.values_list("object_id", "at").order_by("at"):
        if object_id.isdigit():
            times[int(object_id)] = at
    return times


def _extracted(camera: str, since, until) -> list[tuple[Requisition, dt.datetime]]:
    times = extraction_times()
    qs = Requisition.objects.filter(status=RequisitionStatus.DONE, pk__in=list(times))
    if camera:
        qs = qs.filter(_camera_q(camera, "cameras")).distinct()
    done = [(r, times[r.pk]) for r in qs.prefetch_related("cameras")]
    done = [(r, at) for r, at in done if (not since or at >= since) and (not until or at < until)]
    return sorted(done, key=lambda item: item[1], reverse=True)


def extractions(camera: str, since, until) -> list[dict]:
    return [{"kind": "extraction", "at": _iso(at),
             "camera": ",".join(sorted(c.code for c in r.cameras.all())),
             "start": _iso(r.window_start), "end": _iso(r.window_end), "requisition": r.pk,
             "procedure_number": r.procedure_number, "service": r.service,
             "status": "destroyed" if r.export_destroyed_at else r.status,
             "destroyed_at": _iso(r.export_destroyed_at), "detail": r.requesting_officer}
            for r, at in _extracted(camera, since, until)[:LIMIT]]


def destructions(camera: str, since, until) -> list[dict]:
    rows = (DestructionRecord.objects.filter(_camera_q(camera), _window("destroyed_at", since, until))
            .select_related("camera", "requisition").order_by("-destroyed_at"))
    return [{"kind": "destruction", "at": _iso(d.destroyed_at), "camera": d.camera.code, "object": d.object,
             "start": _iso(d.period_start), "end": _iso(d.period_end), "segments": d.segment_count,
             "size": d.total_size, "requisition": d.requisition_id,
             "procedure_number": d.requisition.procedure_number if d.requisition else None,
             "service": d.requisition.service if d.requisition else None,
             "detail": d.get_object_display()} for d in rows[:LIMIT]]


_BUILDERS = {"recording": recordings, "hold": holds, "extraction": extractions, "destruction": destructions}


def register(filters: dict) -> dict[str, list[dict]]:
    """``{"recordings": [...], "holds": [...], "extractions": [...], "destructions": [...]}``,
    newest first, at most ``LIMIT`` lines each; kinds filtered out are absent."""
    return {f"{kind}s": _BUILDERS[kind](filters["camera"], filters["since"], filters["until"])
            for kind in KINDS if kind in filters["kinds"]}


def register_rows(filters: dict) -> Iterator[list]:
    """The register as flat rows (``COLUMNS``), for the CSV export."""
    for lines in register(filters).values():
        for line in lines:
            yield ["" if line.get(c) is None else line.get(c, "") for c in COLUMNS]


def statistics(since=None, until=None) -> dict:
    """Extractions (requisitions whose extraction is done) per month and per requesting service."""
    done = _extracted("", since, until)
    per_month: Counter = Counter()
    per_service: Counter = Counter()
    per_month_service: dict[str, Counter] = defaultdict(Counter)
    for requisition, at in done:
        month = timezone.localtime(at).strftime("%Y-%m")
        service = requisition.service.strip()
        per_month[month] += 1
        per_service[service] += 1
        per_month_service[month][service] += 1
    return {
        "total": len(done),
        "per_month": [{"month": m, "extractions": per_month[m],
                       "per_service": dict(sorted(per_month_service[m].items()))} for m in sorted(per_month)],
        "per_service": [{"service": s, "extractions": n}
                        for s, n in sorted(per_service.items(), key=lambda item: (-item[1], item[0]))],
    }
