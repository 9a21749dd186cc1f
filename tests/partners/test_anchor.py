"""Anchors of the access journal: whoever holds the database can recompute the hash chain, but
not the signed anchors kept outside it (an append-only file, a syslog server over TCP).

Each tampering test plays what an intruder with SQL rights does, shows that the chain alone
is fooled (``--chain-only``), and that ``verify_audit`` names the tampering from the anchors.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import logging
import os
import shutil
import socket
import subprocess
import time
from io import StringIO
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.core.management import CommandError, call_command
from django.db import ProgrammingError, connection, transaction
from django.utils import timezone

from partners.anchor import (
    Finding,
    anchor_check,
    anchor_parse,
    anchor_public_key,
    anchor_sign,
    append_only_flag,
    audit_anchor,
    keyring_of,
)
from partners.audit import Action, audit
from partners.models import AuditRecord
from partners.signing import public_pem

GENESIS = "0" * 64


def write_some(member, count=5):
    return [audit(action=Action.CAMERA_VIEW_START, actor=member.user, address="10.0.0.7",
                  object_type="cameras.camera", object_id=100 + i, reason=f"Incident CSU-2026-00000{i}")
            for i in range(count)]


def verify(*args) -> tuple[int, str]:
    """``verify_audit``'s exit status and everything it said."""
    out, err = StringIO(), StringIO()
    try:
        call_command("verify_audit", *args, stdout=out, stderr=err)
    except CommandError as exc:
        return exc.returncode, f"{exc}\n{err.getvalue()}"
    return 0, out.getvalue() + err.getvalue()


def anchor_lines(path: Path) -> list[str]:
    return [line for line in path.read_text().splitlines() if line.strip()]


# --- What an intruder with SQL rights does.

def intruder(sql, params=()):
    """Triggers off for the session (a superuser may), then write."""
    with connection.cursor() as cursor:
        cursor.execute("SET session_replication_role = replica")
        try:
            cursor.execute(sql, params)
        finally:
            cursor.execute("SET session_replication_role = DEFAULT")


def intruders_hash(record: AuditRecord, prev_hash: str) -> str:
    """The hash rule, rewritten from the hub's source: it is no secret."""
    fields = {
        "id": record.pk, "at": record.at.isoformat(), "actor": record.actor_id,
        "actor_username": record.actor_username, "agency_code": record.agency_code,
        "address": record.address, "action": record.action, "object_type": record.object_type,
        "object_id": record.object_id, "reason": record.reason, "details": record.details,
        "prev_hash": prev_hash,
    }
    canonical = json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def recompute_chain() -> None:
    """Every hash and the head made consistent again with the rows as they now are."""
    previous, last_id = GENESIS, 0
    for record in AuditRecord.objects.order_by("id"):
        digest = intruders_hash(record, previous)
        intruder("UPDATE partners_auditrecord SET prev_hash = %s, hash = %s WHERE id = %s",
                 [previous, digest, record.pk])
        previous, last_id = digest, record.pk
    intruder("UPDATE partners_audithead SET last_id = %s, last_hash = %s WHERE id = 1", [last_id, previous])


def delete_tail_and_move_head(from_id: int) -> None:
    intruder("DELETE FROM partners_auditrecord WHERE id >= %s", [from_id])
    last = AuditRecord.objects.order_by("-id").first()
    intruder("UPDATE partners_audithead SET last_id = %s, last_hash = %s WHERE id = 1",
             [last.pk if last else 0, last.hash if last else GENESIS])


# --- The three tamperings of the finding, each caught.

@pytest.mark.django_db
def test_a_journal_rewritten_with_recomputed_hashes_is_reported(anchors, operator):
    records = write_some(operator)
    call_command("anchor_audit", stdout=StringIO())
    intruder("UPDATE partners_auditrecord SET reason = 'rien à signaler' WHERE id = %s", [records[1].pk])
    recompute_chain()
    assert verify("--chain-only")[0] == 0  # the chain alone is fooled

    status, said = verify()
    assert status == Finding.REWRITTEN == 3
    assert f"record #{records[-1].pk} does not have the hash anchor #1" in said
    assert "the journal was rewritten" in said


@pytest.mark.django_db
def test_deleting_the_newest_records_and_moving_the_head_back_is_reported(anchors, operator):
    records = write_some(operator)
    call_command("anchor_audit", stdout=StringIO())
    delete_tail_and_move_head(records[3].pk)
    assert verify("--chain-only")[0] == 0

    status, said = verify()
    assert status == Finding.TAIL_DELETED == 4
    assert (f"the journal ends at record #{records[2].pk} (3 records), but anchor #1" in said
            and f"signed it up to #{records[-1].pk}: the newest records were deleted and the head moved back"
            in said)


def as_a_new_transaction(cursor) -> None:
    """The test's rows were inserted in the test's transaction: their deferred foreign-key checks
    would stop a TRUNCATE before any trigger does. Run them now, as a later transaction would."""
    cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")


@pytest.mark.django_db
def test_the_database_refuses_truncate(operator):
    write_some(operator, 2)
    with connection.cursor() as cursor:
        as_a_new_transaction(cursor)
    with pytest.raises(ProgrammingError, match="append-only: TRUNCATE refused"), transaction.atomic(), \
            connection.cursor() as cursor:
        cursor.execute("TRUNCATE partners_auditrecord")
    assert AuditRecord.objects.count() == 2
    with pytest.raises(ProgrammingError, match="append-only: DELETE refused"), transaction.atomic(), \
            connection.cursor() as cursor:
        cursor.execute("DELETE FROM partners_audithead")
    with pytest.raises(ProgrammingError, match="append-only: TRUNCATE refused"), transaction.atomic(), \
            connection.cursor() as cursor:
        cursor.execute("TRUNCATE partners_audithead")


@pytest.mark.django_db
def test_a_journal_emptied_with_the_triggers_off_is_reported(anchors, operator):
    write_some(operator)
    call_command("anchor_audit", stdout=StringIO())
    with connection.cursor() as cursor:
        as_a_new_transaction(cursor)
    intruder("TRUNCATE partners_auditrecord")
    intruder("DELETE FROM partners_audithead")
    assert verify("--chain-only")[0] == 0

    status, said = verify()
    assert status == Finding.TRUNCATED == 5
    assert "the journal is empty, but anchor #1" in said and "signed 5 records" in said


@pytest.mark.django_db
def test_a_forged_or_altered_anchor_is_reported(anchors, operator):
    write_some(operator, 3)
    call_command("anchor_audit", stdout=StringIO())
    genuine = json.loads(anchor_lines(anchors)[0])
    # The intruder rewrites the journal, then the anchor to match it: the signature no longer does.
    intruder("UPDATE partners_auditrecord SET reason = '' WHERE id = %s", [genuine["last_id"]])
    recompute_chain()
    altered = {**genuine, "last_hash": AuditRecord.objects.get(pk=genuine["last_id"]).hash}
    anchors.write_text(json.dumps(altered) + "\n")
    status, said = verify()
    assert status == Finding.ANCHOR_INVALID == 6
    assert f"{anchors}, line 1: not a valid anchor: the signature does not match" in said

    # Or signs anchors with a key of their own.
    own = anchor_sign(anchor_parse(json.dumps(altered)), Ed25519PrivateKey.generate())
    anchors.write_text(own.line() + "\n")
    status, said = verify()
    assert status == Finding.ANCHOR_INVALID and "signed by an unknown key" in said


@pytest.mark.django_db
def test_every_signed_field_is_covered_by_the_signature(anchors, operator):
    write_some(operator, 2)
    result = audit_anchor()
    keyring = keyring_of([anchor_public_key()])
    anchor_check(result.anchor, keyring)
    line = json.loads(result.anchor.line())
    for name, value in [("seq", 9), ("at", "2020-01-01T00:00:00+00:00"), ("last_id", 1), ("count", 1),
                        ("last_hash", "a" * 64)]:
        with pytest.raises(ValueError, match="signature does not match"):
            anchor_check(anchor_parse(json.dumps({**line, name: value})), keyring)


@pytest.mark.django_db
def test_an_unanchored_journal_is_not_called_intact(anchors, operator):
    write_some(operator, 2)
    status, said = verify()
    assert status == Finding.UNANCHORED == 7 and "no valid anchor" in said
    assert verify("--chain-only")[0] == 0


@pytest.mark.django_db
def test_an_edited_row_is_still_named_by_the_chain(anchors, operator):
    records = write_some(operator)
    call_command("anchor_audit", stdout=StringIO())
    intruder("UPDATE partners_auditrecord SET reason = 'rien' WHERE id = %s", [records[2].pk])
    status, said = verify()
    assert status == Finding.CHAIN_BROKEN == 2
    assert f"record #{records[2].pk}: its content does not match its hash" in said


@pytest.mark.django_db
def test_records_written_after_the_latest_anchor_are_counted(anchors, operator):
    write_some(operator, 2)
    call_command("anchor_audit", stdout=StringIO())
    write_some(operator, 3)
    status, said = verify()
    assert status == 0
    assert "Access journal intact: 5 records" in said and "3 record(s) written since" in said


# --- Anchoring.

@pytest.mark.django_db
def test_anchoring_refuses_a_rewritten_journal_and_raises_the_alarm(anchors, operator, caplog):
    records = write_some(operator, 3)
    call_command("anchor_audit", stdout=StringIO())
    intruder("UPDATE partners_auditrecord SET reason = 'rien' WHERE id = %s", [records[0].pk])
    recompute_chain()
    with caplog.at_level(logging.CRITICAL, logger="partners.anchor"), \
            pytest.raises(CommandError, match="no longer has the hash anchor #1") as refused:
        call_command("anchor_audit", stdout=StringIO())
    assert refused.value.returncode == 3
    assert any(r.levelno == logging.CRITICAL and "no anchor written" in r.getMessage()
               for r in caplog.records)
    assert len(anchor_lines(anchors)) == 1  # the tampered head was not anchored

    # Once investigated, anchoring goes on; the earlier anchor keeps showing the rewrite.
    call_command("anchor_audit", "--rebase", stdout=StringIO())
    assert [json.loads(line)["seq"] for line in anchor_lines(anchors)] == [1, 2]
    assert verify()[0] == Finding.REWRITTEN


@pytest.mark.django_db
def test_the_periodic_anchoring_writes_when_the_journal_moved_and_at_the_heartbeat(anchors, settings,
                                                                                    operator):
    settings.HUB_AUDIT_ANCHOR_HEARTBEAT_SECONDS = 3600
    start = timezone.now()
    write_some(operator, 2)
    first = audit_anchor(force=False, now=start)
    assert first.written and (first.anchor.seq, first.anchor.count) == (1, 2)
    assert not audit_anchor(force=False, now=start + dt.timedelta(minutes=10)).written
    write_some(operator, 1)
    moved = audit_anchor(force=False, now=start + dt.timedelta(minutes=11))
    assert moved.written and (moved.anchor.seq, moved.anchor.count) == (2, 3)
    assert not audit_anchor(force=False, now=start + dt.timedelta(minutes=70)).written
    assert audit_anchor(force=False, now=start + dt.timedelta(minutes=72)).anchor.seq == 3
    lines = [json.loads(line) for line in anchor_lines(anchors)]
    assert [line["seq"] for line in lines] == [1, 2, 3]
    assert lines[2]["at"] == (start + dt.timedelta(minutes=72)).astimezone(dt.UTC).isoformat()

    # Celery beat runs the task; on demand, the command anchors even an unchanged journal.
    assert settings.CELERY_BEAT_SCHEDULE["partners-anchor-audit"]["task"] == "partners.anchor_audit"
    from partners.tasks import anchor_audit

    write_some(operator, 1)
    assert anchor_audit() == {"seq": 4, "written": True, "syslog": "off"}
    out = StringIO()
    call_command("anchor_audit", stdout=out)
    assert "Anchor #5 written" in out.getvalue() and len(anchor_lines(anchors)) == 5
    assert verify()[0] == 0


@pytest.mark.django_db
def test_the_anchor_file_is_made_append_only_where_the_system_allows(anchors, settings, operator):
    settings.HUB_AUDIT_ANCHOR_APPEND_ONLY_FLAG = True
    write_some(operator, 1)
    try:
        result = audit_anchor()
        state = append_only_flag(anchors)
        assert result.append_only == state
        if state == "set":  # root, on a file system with the flag (ext4 here)
            with pytest.raises(PermissionError):
                anchors.open("w")
            with pytest.raises(PermissionError):
                anchors.unlink()
            write_some(operator, 1)
            audit_anchor()  # appending still works
            assert len(anchor_lines(anchors)) == 2
        else:
            assert state.startswith("not set:") and "needs root" in state
    finally:
        if shutil.which("chattr"):
            subprocess.run(["chattr", "-a", str(anchors)], check=False)
    assert os.stat(anchors).st_mode & 0o007 == 0  # not readable by others (the umask may say less)


# --- The syslog copy.

def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Rsyslog:
    """Debian's rsyslogd, run by the test on a loopback TCP port, writing what it receives to a
    file (no root daemon, no /dev/log)."""

    def __init__(self, directory: Path, port: int) -> None:
        self.directory, self.port = directory, port
        self.url = f"tcp://127.0.0.1:{port}"
        self.store = directory / "received.log"
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        executable = shutil.which("rsyslogd") or "/usr/sbin/rsyslogd"
        if not Path(executable).exists():
            pytest.skip("rsyslog is not installed (BOOTSTRAP_TEST=1 scripts/bootstrap.sh)")
        self.directory.mkdir(parents=True, exist_ok=True)
        config = self.directory / "rsyslog.conf"
        config.write_text(
            f'global(workDirectory="{self.directory}")\n'
            'module(load="imtcp")\n'
            f'input(type="imtcp" address="127.0.0.1" port="{self.port}" ruleset="anchors")\n'
            'ruleset(name="anchors") {\n'
            f'  action(type="omfile" file="{self.store}" template="RSYSLOG_FileFormat")\n'
            '}\n')
        log = (self.directory / "rsyslogd.out").open("ab")
        command = [executable, "-n", "-f", str(config), "-i", str(self.directory / "pid")]
        self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        log.close()
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                pytest.fail(f"rsyslogd exited: {(self.directory / 'rsyslogd.out').read_text()}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.1)
        pytest.fail("rsyslogd did not open its port")

    def received(self, count: int) -> list[str]:
        """The anchor lines received, once there are ``count`` of them (rsyslog writes asynchronously)."""
        deadline = time.monotonic() + 15
        lines: list[str] = []
        while time.monotonic() < deadline:
            if self.store.exists():
                lines = [line for line in self.store.read_text().splitlines() if "csu-audit-anchor" in line]
                if len(lines) >= count:
                    return lines
            time.sleep(0.1)
        pytest.fail(f"rsyslog received {len(lines)} anchors, not {count}")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)


@pytest.fixture
def rsyslog(tmp_path):
    """Starts rsyslog servers (``rsyslog(port)``); stops them after the test."""
    servers: list[Rsyslog] = []

    def start(port: int | None = None) -> Rsyslog:
        server = Rsyslog(tmp_path / f"rsyslog-{len(servers)}", port or _free_port())
        servers.append(server)
        server.start()
        return server

    yield start
    for server in servers:
        server.stop()


@pytest.mark.django_db
def test_anchors_are_copied_to_syslog_and_the_copy_catches_a_rolled_back_file(anchors, settings, operator,
                                                                              rsyslog, tmp_path):
    server = rsyslog()
    settings.HUB_AUDIT_SYSLOG = server.url
    records = write_some(operator, 3)
    assert audit_anchor().syslog == "sent 1"
    write_some(operator, 2)
    assert audit_anchor().syslog == "sent 1"
    received = server.received(2)
    # The server's own line format (time, host, tag) before the anchor, which is the file's line.
    assert received[0].split(" ", 3)[2].startswith("csu-audit-anchor")
    assert [anchor_parse(line) for line in received] == [anchor_parse(line) for line in anchor_lines(anchors)]

    # Whoever holds the database and the hub's files (no append-only flag here) deletes the
    # newest records, moves the head back and cuts the anchor file to match.
    delete_tail_and_move_head(records[-1].pk + 1)
    anchors.write_text(anchor_lines(anchors)[0] + "\n")
    assert verify()[0] == 0  # the local file alone is fooled
    # An auditor checks the syslog store's lines, offline, with the anchoring public key.
    public = tmp_path / "anchor-public.pem"
    public.write_bytes(public_pem(anchor_public_key()))
    status, said = verify("--anchors", str(server.store), "--public-key", str(public))
    assert status == Finding.TAIL_DELETED
    assert f"ends at record #{records[-1].pk} (3 records), but anchor #2" in said


@pytest.mark.django_db
def test_a_syslog_server_that_is_down_breaks_nothing_and_gets_the_anchors_later(anchors, settings, operator,
                                                                                rsyslog, caplog):
    port = _free_port()
    settings.HUB_AUDIT_SYSLOG = f"tcp://127.0.0.1:{port}"
    settings.HUB_AUDIT_SYSLOG_TIMEOUT_SECONDS = 1
    write_some(operator, 2)
    with caplog.at_level(logging.ERROR, logger="partners.anchor"):
        result = audit_anchor()
    assert result.written and result.syslog.startswith("failed") and result.syslog.endswith("1 pending")
    failed = f"syslog copy to tcp://127.0.0.1:{port} failed"
    assert any(r.levelno == logging.ERROR and failed in r.getMessage()
               and "1 anchor(s) pending" in r.getMessage() for r in caplog.records)
    assert len(anchor_lines(anchors)) == 1  # the file has it
    write_some(operator, 1)  # the hub goes on journalling
    assert audit_anchor().syslog.endswith("2 pending")

    server = rsyslog(port)
    assert audit_anchor(force=False).syslog == "sent 2"  # nothing new to anchor, the backlog goes out
    assert [anchor_parse(line).seq for line in server.received(2)] == [1, 2]
    assert audit_anchor().syslog == "sent 1"
    assert [anchor_parse(line).seq for line in server.received(3)] == [1, 2, 3]


def test_a_syslog_store_line_parses_to_the_anchor_and_others_are_ignored(tmp_path):
    key = Ed25519PrivateKey.generate()
    anchor = anchor_sign(anchor_parse(json.dumps({
        "format": "csu-audit-anchor/1", "seq": 1, "at": "2026-11-26T12:00:00+00:00", "last_id": 3,
        "last_hash": "b" * 64, "count": 3, "key_id": "c" * 64, "sig": ""})), key)
    store = tmp_path / "syslog"
    store.write_text("2026-11-26T12:00:01+01:00 hub sshd[12]: Accepted publickey for root\n"
                     f"2026-11-26T12:00:00+00:00 hub csu-audit-anchor[77] {anchor.line()}\n"
                     '2026-11-26T12:00:02+01:00 hub csu-audit-anchor[77] {"format": "csu-audit-anchor/1"}\n')
    from partners.anchor import anchors_read

    found, problems = anchors_read([store], keyring_of([key.public_key()]))
    assert found == [anchor]
    assert [problem.message for problem in problems] == [
        f"{store}, line 3: not a valid anchor: fields ['at', 'count', 'key_id', 'last_hash', 'last_id', "
        f"'seq', 'sig'] unexpected or missing"]
    assert base64.b64decode(anchor.sig)  # a real signature, base64
