"""How fast a revoked grant cuts its partner's picture (the video watchdog), measured where the
tests only check that it does.

In one process, as tests/streaming/test_video.py: the video runtime, a synthetic camera under an
authorisation for the PN, a habilitated PN agent who watches it through a real aiortc peer
(WHEP offer to the API), on the benchmark's own database (``csu_bench_video_cuts``: dropped,
created and migrated). Each round grants the camera, waits for pictures, revokes the grant through the
service, and times from the revocation's return to the agent's connection closed and to the
last picture received.

    source var/env.sh && python benchmarks/video_cuts.py [--rounds 10]

Standalone; prints figures (and the target beside them), asserts nothing.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness  # noqa: E402

TARGET_MS = 1000.0


def fresh_database(url: str) -> None:
    from urllib.parse import urlparse

    import psycopg

    parsed = urlparse(url)
    name = parsed.path.lstrip("/")
    assert name.startswith("csu_bench_"), name
    conninfo = {k: v for k, v in dict(host=parsed.hostname, port=parsed.port, user=parsed.username,
                                       password=parsed.password).items() if v}
    with psycopg.connect(dbname="postgres", autocommit=True, **conninfo) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=10)
    args = parser.parse_args()

    url = harness.bench_database_url("csu_bench_video_cuts", "BENCH_VIDEO_CUTS_DATABASE_URL")
    fresh_database(url)  # the test factories number their rows from 1: a fresh database each run
    harness.ensure_database(url)
    harness.setup_django(url, f"bench-video-cuts-{os.getpid()}", {"HUB_WEBRTC_HOST_ADDRESSES": "127.0.0.1"})
    sys.path.insert(0, str(harness.ROOT))

    from django.conf import settings
    from django.contrib.gis.geos import Point
    from django.core.management import call_command
    from django.utils import timezone

    call_command("migrate", interactive=False, verbosity=0)
    from cameras.models import Camera
    from geo.models import Commune
    from incidents.choices import NATURES
    from incidents.models import Nature
    from incidents.services.incidents import incident_create, incident_share
    from partners.choices import AgencyKind
    from streaming.models import Grant
    from streaming.runtime import _restrict_host_addresses, get_runtime, reset_runtime
    from streaming.services import grant_create, grant_revoke
    from tests import factories
    from tests.streaming.peer import WhepPeer

    _restrict_host_addresses(["127.0.0.1"])
    for code, label in NATURES:
        Nature.objects.get_or_create(code=code, defaults={"label": label})
    if not Commune.objects.filter(insee_code="95428").exists():
        factories.make_commune()
    stamp = int(time.time())
    camera = factories.make_camera(code=f"bench-cuts-{stamp}")
    Camera.objects.filter(pk=camera.pk).update(stream_uri="synthetic:640x360@25")
    factories.make_authorisation(cameras=[camera], recipients=["PN"])
    operator = factories.make_member(role="operator")
    pn = factories.make_agency(kind=AgencyKind.PN, code=f"pn-cuts-{stamp}")
    agent = factories.make_member(role="partner_agent", agency=pn, habilitation_reference="HAB-B1",
                                  habilitation_valid_until=timezone.localdate() + dt.timedelta(days=30))
    incident = incident_create(member=operator, nature="rixe", location=Point(2.3222, 48.9883, srid=4326),
                               description="Banc coupure")
    incident_share(incident=incident, agency_code=pn.code, member=operator)
    agent_api = factories.TokenClient().as_member(agent)
    print(f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at the start; "
          f"HUB_VIDEO_WATCHDOG_SECONDS {settings.HUB_VIDEO_WATCHDOG_SECONDS}")

    reset_runtime()
    get_runtime()
    closed_ms: list[float] = []
    last_frame_ms: list[float] = []
    try:
        for n in range(args.rounds):
            grant = grant_create(camera=camera, agency_code=pn.code, incident=incident,
                                 granted_by=operator.user, minutes=30)
            peer = WhepPeer()
            try:
                response = agent_api.generic("POST", f"/api/streaming/cameras/{camera.pk}/whep",
                                             peer.offer(), content_type="application/sdp")
                if response.status_code != 201:
                    print(f"  round {n}: WHEP answered {response.status_code} {response.content[:200]!r}")
                    continue
                peer.accept(response.content.decode())
                if peer.wait_frames(25, timeout=30) < 25:
                    print(f"  round {n}: no pictures")
                    continue
                grant_revoke(grant=Grant.objects.get(pk=grant.pk), by=operator.user, reason="banc")
                revoked_at = time.monotonic()
                if not peer.ended.wait(30):
                    print(f"  round {n}: not cut within 30 s")
                    continue
                closed_ms.append((time.monotonic() - revoked_at) * 1000)
                last_frame_ms.append(max(0.0, ((peer.last_frame_at or revoked_at) - revoked_at) * 1000))
            finally:
                peer.close()
            time.sleep(settings.HUB_VIDEO_LINGER_SECONDS + 0.5)  # the pipeline closes: each round starts cold
    finally:
        reset_runtime()
    for what, values in (("connection closed", closed_ms), ("last picture received", last_frame_ms)):
        s = harness.summary(values)
        print(f"  revocation → {what}: n {s['n']}, p50 {s['p50']:.0f} ms, p95 {s['p95']:.0f} ms, "
              f"max {s['max']:.0f} ms (target ≤ {TARGET_MS:.0f} ms)", flush=True)


if __name__ == "__main__":
    main()
