"""The access journal: append-only, hash-chained, verified offline by verify_audit."""

import pytest
from django.core.management import CommandError, call_command
from django.db import IntegrityError, InternalError, ProgrammingError, connection, transaction

from partners.audit import Action, audit
from partners.models import AuditRecord
from tests import factories


def write_some(member, count=5):
    return [audit(action=Action.CAMERA_VIEW_START, actor=member.user, address="10.0.0.7",
                  object_type="cameras.camera", object_id=100 + i, reason=f"Incident CSU-2026-00000{i}")
            for i in range(count)]


def tamper(sql, params):
    """What an intruder with SQL access does: switch triggers off for the session, then write."""
    with connection.cursor() as cursor:
        cursor.execute("SET session_replication_role = replica")
        cursor.execute(sql, params)
        cursor.execute("SET session_replication_role = DEFAULT")


@pytest.mark.django_db
def test_an_intact_journal_verifies(operator, anchors, capsys):
    write_some(operator)
    call_command("anchor_audit")
    call_command("verify_audit")
    out = capsys.readouterr().out
    assert "intact: 5 records" in out and "1 anchor(s) verified" in out


@pytest.mark.django_db
def test_records_carry_who_where_what_and_why(operator):
    record = write_some(operator, 1)[0]
    stored = AuditRecord.objects.get(pk=record.pk)
    assert (stored.actor_username, stored.agency_code, stored.address, stored.action) == (
        operator.user.username, "csu", "10.0.0.7", "camera_view_start")
    assert stored.reason == "Incident CSU-2026-000000"


@pytest.mark.django_db
def test_the_database_refuses_updates_and_deletes(operator):
    record = write_some(operator, 1)[0]
    with pytest.raises((InternalError, ProgrammingError, IntegrityError)), transaction.atomic():
        AuditRecord.objects.filter(pk=record.pk).update(reason="rien à voir")
    with pytest.raises((InternalError, ProgrammingError, IntegrityError)), transaction.atomic():
        AuditRecord.objects.filter(pk=record.pk).delete()


@pytest.mark.django_db
def test_a_row_edited_in_sql_is_named(operator):
    records = write_some(operator)
    tamper("UPDATE partners_auditrecord SET reason = 'rien' WHERE id = %s", [records[2].pk])
    with pytest.raises(CommandError, match=rf"record #{records[2].pk}: its content does not match"):
        call_command("verify_audit")


@pytest.mark.django_db
def test_a_deleted_row_is_detected_at_the_next_one(operator):
    records = write_some(operator)
    tamper("DELETE FROM partners_auditrecord WHERE id = %s", [records[1].pk])
    with pytest.raises(CommandError, match=rf"record #{records[2].pk}: does not follow"):
        call_command("verify_audit")


@pytest.mark.django_db
def test_deleting_the_newest_records_is_detected(operator):
    records = write_some(operator)
    tamper("DELETE FROM partners_auditrecord WHERE id >= %s", [records[3].pk])
    with pytest.raises(CommandError, match="newest records were deleted"):
        call_command("verify_audit")


@pytest.mark.django_db
def test_auditors_search_and_export_the_journal(operator, api, anon_api):
    write_some(operator)
    audit(action=Action.GRANT_CREATED, actor=operator.user, reason="renvoi PN")
    auditor = factories.make_member(role="auditor")
    client = factories.TokenClient().as_member(auditor)
    listed = client.get("/api/audit/?action=camera_view_start").json()
    assert len(listed) == 5 and listed[0]["object_id"] == "104"  # newest first
    assert [r["action"] for r in client.get("/api/audit/?q=renvoi").json()] == ["grant_created"]
    assert client.get("/api/audit/?since=hier").status_code == 400
    export = client.get("/api/audit/?export=csv")
    assert export.status_code == 200 and export["Content-Type"].startswith("text/csv")
    lines = b"".join(export.streaming_content).decode("utf-8-sig").splitlines()
    assert lines[0].startswith("id,at,actor_username") and len(lines) >= 7
    # Auditors read the journal and nothing else; nobody else reads it.
    assert client.get("/api/incidents/").json() == []
    assert client.get("/api/cameras/").status_code == 403
    assert api.as_member(operator).get("/api/audit/").status_code == 403
    assert anon_api.get("/api/audit/").status_code in (401, 403)


@pytest.mark.django_db
def test_a_change_of_rights_in_the_admin_is_journalled(db):
    from django.contrib.auth.models import User
    from django.test import Client

    admin_user = User.objects.create_superuser("root", password="pw-123456789")
    member = factories.make_member(role="partner_agent")
    client = Client()
    client.force_login(admin_user)
    page = client.get(f"/admin/partners/member/{member.pk}/change/")
    assert page.status_code == 200
    form = page.context["adminform"].form
    data = {name: form[name].value() or "" for name in form.fields}
    data.update(role="field_unit", user=member.user.pk, agency=member.agency.pk)
    response = client.post(f"/admin/partners/member/{member.pk}/change/", data)
    assert response.status_code == 302, response.content[:2000]
    record = AuditRecord.objects.get(action=Action.RIGHTS_CHANGED)
    assert record.actor_username == "root" and record.details["role"] == "field_unit"
    assert "role" in record.details["changed"]


@pytest.mark.django_db
def test_only_the_centres_auditors_read_the_journal(db):
    partner_auditor = factories.make_member(role="auditor", agency=factories.make_agency(kind="PN"))
    assert factories.TokenClient().as_member(partner_auditor).get("/api/audit/").status_code == 403
