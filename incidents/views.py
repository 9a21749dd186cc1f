"""Pages of the incidents app: the operator console.

The pages render the frame; their data comes from the REST API and ``/ws/events/``
(static/js/console.js), so a page, a program and a tablet read the same answers.
"""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.translation import gettext as _
from django.views.decorators.csrf import ensure_csrf_cookie

from incidents.choices import IncidentStatus, Priority
from partners.selectors import member_of

# Statuses listed under "Incidents en cours".
LIVE_STATUSES = [str(status) for status in (IncidentStatus.OPEN, IncidentStatus.ENGAGED)]


@login_required
@ensure_csrf_cookie  # console.js reads the csrftoken cookie to POST to the API
def console(request: HttpRequest) -> HttpResponse:
    """``/console/`` — the operator console (centre staff only): live incidents and a creation form."""
    member = member_of(request.user)
    if member is None or not member.is_centre_staff:
        raise PermissionDenied(_("La console est réservée aux opérateurs et superviseurs du centre."))
    labels = {
        "priority": {str(value): str(label) for value, label in Priority.choices},
        "status": {value: str(label) for value, label in IncidentStatus.choices},
    }
    return render(request, "incidents/console.html", {
        "member": member,
        "live_statuses": ",".join(LIVE_STATUSES),
        "labels": labels,
        "priorities": Priority.choices,
        "default_priority": Priority.NORMAL,
    })
