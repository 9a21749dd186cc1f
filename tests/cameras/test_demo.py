"""``manage.py load_demo``: the Plaine Vallée demo at the real scale, deterministic and idempotent."""

import datetime as dt
import io

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.db import connection
from django.db.models import Count, Q
from django.utils import timezone

from cameras.choices import CameraKind
from cameras.demo import allocate_sites
from cameras.models import Authorisation, Camera, PrivacyMask, PtzPreset, Site
from cameras.selectors import cameras_with_authorisation
from geo.models import Commune
from geo.services import read_demo_communes
from partners.choices import AgencyKind, Role
from partners.models import Agency, Member

README_AGENCIES = {"csu", "pn-montmorency", "pn-enghien", "gn-domont", "sdis-95", "crf-plaine-vallee"}


def counts() -> dict[str, int]:
    return {model.__name__: model.objects.count()
            for model in (Commune, Site, Camera, PtzPreset, PrivacyMask, Authorisation, Agency,
                          Member, get_user_model())} | {
        "authorised_cameras": Authorisation.cameras.through.objects.count()}


@pytest.mark.django_db
def test_load_demo_builds_plaine_vallee_at_full_scale_and_twice_changes_nothing():
    call_command("load_demo", stdout=io.StringIO())
    today = timezone.localdate()

    assert Commune.objects.count() == 18
    sites = Site.objects.filter(nomadic_pool=False)
    assert sites.count() == 396
    assert Camera.objects.count() >= 2000

    # Every implantation site holds at least one PTZ dome and one panoramic camera.
    per_site = sites.annotate(
        ptz=Count("cameras", filter=Q(cameras__kind=CameraKind.PTZ)),
        pano=Count("cameras", filter=Q(cameras__kind=CameraKind.PANORAMIC)))
    assert not per_site.filter(Q(ptz=0) | Q(pano=0)).exists()
    assert not Camera.objects.filter(kind=CameraKind.PTZ, presets__isnull=True).exists()

    # Sites and cameras stand inside their commune.
    with connection.cursor() as cursor:
        cursor.execute("""
            SELECT count(*) FROM cameras_site s JOIN geo_commune c ON c.id = s.commune_id
            WHERE NOT ST_Covers(c.boundary, s.location)""")
        assert cursor.fetchone()[0] == 0
        cursor.execute("""
            SELECT count(*) FROM cameras_camera cam
            WHERE NOT EXISTS (SELECT 1 FROM geo_commune c WHERE ST_Covers(c.boundary, cam.location))""")
        assert cursor.fetchone()[0] == 0

    # At least two nomadic cameras in every commune.
    nomadic = dict(Camera.objects.filter(kind=CameraKind.NOMADIC)
                   .values_list("site__commune__insee_code").annotate(n=Count("id")))
    assert set(nomadic) == set(Commune.objects.values_list("insee_code", flat=True))
    assert min(nomadic.values()) >= 2

    # Sites spread by population: the biggest commune has more sites than the smallest.
    by_size = list(Commune.objects.order_by("population"))
    assert by_size[-1].sites.filter(nomadic_pool=False).count() > \
        by_size[0].sites.filter(nomadic_pool=False).count()

    assert PrivacyMask.objects.exists()
    assert PrivacyMask.objects.filter(preset__isnull=False).exists()

    # One authorisation has expired, some expire within 30 days; the expired one's cameras are
    # flagged, and every other camera is authorised.
    assert Authorisation.objects.filter(valid_until__lt=today).count() == 1
    assert Authorisation.objects.filter(
        valid_until__gte=today, valid_until__lte=today + dt.timedelta(days=30)).exists()
    expired = Authorisation.objects.get(valid_until__lt=today)
    unauthorised = set(cameras_with_authorisation().filter(authorised=False).values_list("pk", flat=True))
    assert unauthorised and unauthorised == set(expired.cameras.values_list("pk", flat=True))

    # The agencies of the README, one municipal police per commune, and the demo accounts.
    codes = set(Agency.objects.values_list("code", flat=True))
    assert README_AGENCIES <= codes
    pm = Agency.objects.filter(kind=AgencyKind.PM)
    assert sorted(pm.values_list("commune_insee", flat=True)) == sorted(
        r["insee_code"] for r in read_demo_communes())
    assert all(code.startswith("pm-") for code in pm.values_list("code", flat=True))
    assert "pm-montmorency" in codes
    centre = Member.objects.filter(agency__code="csu")
    assert centre.filter(role=Role.OPERATOR).exists() and centre.filter(role=Role.SUPERVISOR).exists()
    assert not Agency.objects.exclude(kind=AgencyKind.CSU).filter(
        ~Q(members__role=Role.PARTNER_AGENT)).exists()
    assert Member.objects.get(user__username="operateur").user.check_password("csu-demo-2026")
    # Those who must give a second factor can, with the published demo key; operators need none.
    from partners.demo import DEMO_TOTP_SECRET

    assert Member.objects.get(user__username="agent-pn-montmorency").totp_secret == DEMO_TOTP_SECRET
    assert Member.objects.get(user__username="superviseur").totp_secret == DEMO_TOTP_SECRET
    assert Member.objects.get(user__username="operateur").totp_secret == ""

    # Two cameras are recorded by `make run`'s recorder: one with privacy masks, one without, both
    # authorised today, with light synthetic pictures.
    from recordings.models import RecordingPlan
    from recordings.recorder import recorded_cameras

    recorded = list(recorded_cameras().order_by("code"))
    assert len(recorded) == 2 and RecordingPlan.objects.count() == 2
    assert sorted(c.masks.exists() for c in recorded) == [False, True]
    assert all(c.stream_uri == "synthetic:640x360@15" and c.retention_days == 2 for c in recorded)
    assert cameras_with_authorisation().filter(pk__in=[c.pk for c in recorded], authorised=True).count() == 2

    before = counts()
    call_command("load_demo", stdout=io.StringIO())
    assert counts() == before
    assert list(recorded_cameras().order_by("code")) == recorded


def test_sites_are_allocated_by_population_with_a_floor():
    populations = {r["insee_code"]: r["population"] for r in read_demo_communes()}
    allocation = allocate_sites(populations)
    assert sum(allocation.values()) == 396
    assert min(allocation.values()) >= 4
    assert allocation["95428"] > allocation["95489"]  # Montmorency over Piscop


@pytest.mark.django_db
def test_load_demo_refuses_outside_demo_mode(settings):
    """Demo accounts have a published password: never in production."""
    settings.DEMO_MODE = False
    with pytest.raises(CommandError, match="demo mode"):
        call_command("load_demo", stdout=io.StringIO())
    assert not get_user_model().objects.exists()
    assert not Commune.objects.exists()
