import pytest
from channels.db import database_sync_to_async
from django.contrib.gis.geos import Point

from incidents.services.incidents import incident_create
from tests import factories


@pytest.mark.django_db(transaction=True)
async def test_operator_receives_incident_created(connect):
    await database_sync_to_async(factories.make_commune)()
    member = await database_sync_to_async(factories.make_member)(role="operator")
    ok, client = await connect(member.user)
    assert ok
    incident = await database_sync_to_async(incident_create)(
        member=member, nature="rixe", location=Point(2.3222, 48.9883, srid=4326),
        description="Rixe devant la gare")
    frames = await client.events(2)
    assert [f["type"] for f in frames] == ["incident.created", "journal.appended"]
    assert frames[0]["data"]["incident"]["reference"] == incident.reference
    assert frames[0]["id"] < frames[1]["id"]
    await client.close()
