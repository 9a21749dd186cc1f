"""Every write of the streaming app: grants of live images (*renvoi d'images*)."""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from cameras.models import Camera
from cameras.selectors import valid_authorisations
from config.errors import Conflict, DomainError
from incidents.choices import IncidentStatus
from incidents.models import Incident
from incidents.services import incident_share
from partners.audit import Action, audit
from partners.choices import AgencyKind
from partners.models import Agency
from realtime import audiences
from realtime.services import publish
from streaming.events import GrantCreated, GrantRevoked, grant_data
from streaming.models import Grant


class VideoNotAllowed(DomainError):
    """The law does not let this service receive this camera's images."""

    code = "video_not_allowed"
    status_code = 403


def _audience(grant: Grant) -> audiences.Audience:
    return audiences.agencies([grant.agency.code])


@transaction.atomic
def grant_create(*, camera: Camera, agency_code: str, incident: Incident, granted_by: AbstractBaseUser,
                 minutes: int | None = None, address: str | None = None) -> Grant:
    """Share ``camera`` live with an agency for an incident, for ``minutes``.

    The camera needs an authorisation in force that lists the agency's service;
    the Croix-Rouge never receives images. The incident is shared with the
    agency too (journalled) when it was not yet.
    """
    minutes = settings.HUB_GRANT_DEFAULT_MINUTES if minutes is None else minutes
    if isinstance(minutes, bool) or not isinstance(minutes, int) or not \
            1 <= minutes <= settings.HUB_GRANT_MAX_MINUTES:
        raise DomainError(f"Between 1 and {settings.HUB_GRANT_MAX_MINUTES} minutes.", field="minutes")
    agency = Agency.objects.filter(code=agency_code).first()
    if agency is None or agency.kind == AgencyKind.CSU:
        raise DomainError(f"No partner agency has code {agency_code!r}.", field="agency")
    if agency.kind == AgencyKind.CRF:
        raise VideoNotAllowed("The Croix-Rouge does not receive images (CSI, L252-3).", field="agency")
    if incident.status in {IncidentStatus.CLOSED, IncidentStatus.CANCELLED}:
        raise Conflict("The incident is closed.", field="incident")
    if not valid_authorisations().filter(cameras=camera, recipients__contains=[agency.kind]).exists():
        raise VideoNotAllowed("No prefectoral authorisation in force lets this service receive this "
                              "camera's images.", field="camera")
    if not incident.shared_with.filter(pk=agency.pk).exists():
        incident_share(incident=incident, agency_code=agency.code, author=granted_by)
    grant = Grant.objects.create(camera=camera, agency=agency, incident=incident, granted_by=granted_by,
                                 expires_at=timezone.now() + dt.timedelta(minutes=minutes))
    audit(action=Action.GRANT_CREATED, actor=granted_by, address=address, obj=grant,
          reason=f"Incident {incident.reference}",
          details={"camera": camera.code, "agency": agency.code, "minutes": minutes})
    publish(GrantCreated(grant=grant_data(grant)), audience=_audience(grant))
    return grant


@transaction.atomic
def grant_extend(*, grant: Grant, minutes: int, by: AbstractBaseUser, address: str | None = None) -> Grant:
    grant = Grant.objects.select_for_update().get(pk=grant.pk)
    if not grant.is_active():
        raise Conflict("This grant has ended; create a new one.", field="grant")
    if not 1 <= minutes <= settings.HUB_GRANT_MAX_MINUTES:
        raise DomainError(f"Between 1 and {settings.HUB_GRANT_MAX_MINUTES} minutes.", field="minutes")
    grant.expires_at = timezone.now() + dt.timedelta(minutes=minutes)
    grant.save(update_fields=["expires_at"])
    audit(action=Action.GRANT_CREATED, actor=by, address=address, obj=grant, reason="extension",
          details={"minutes": minutes})
    publish(GrantCreated(grant=grant_data(grant)), audience=_audience(grant))
    return grant


@transaction.atomic
def grant_revoke(*, grant: Grant, by: AbstractBaseUser, reason: str = "",
                 address: str | None = None) -> Grant:
    """End the grant now; its viewers are cut (the video side listens for grant.revoked)."""
    grant = Grant.objects.select_for_update().select_related("camera", "agency", "incident").get(pk=grant.pk)
    if grant.revoked_at is not None:
        return grant
    grant.revoked_at, grant.revoked_by = timezone.now(), by
    grant.save(update_fields=["revoked_at", "revoked_by"])
    audit(action=Action.GRANT_REVOKED, actor=by, address=address, obj=grant, reason=reason[:500])
    publish(GrantRevoked(grant=grant_data(grant)), audience=_audience(grant))
    return grant
