"""The access journal (*journal des accès*): writing a record, and verifying the chain."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from django.contrib.auth.models import User
from django.db import connection, transaction
from django.db.models import Model

from partners.models import AuditHead, AuditRecord, Member

AUDIT_LOCK = 7_240_010
GENESIS = "0" * 64


class Action:
    """The actions the journal records (a plain namespace: new ones need no migration)."""

    LOGIN = "login"
    LOGIN_FAILED = "login_failed"
    LOGIN_LOCKED = "login_locked"
    LOGOUT = "logout"
    TOKEN_ISSUED = "token_issued"
    TOKEN_REVOKED = "token_revoked"
    SESSION_ENDED = "session_ended"
    RIGHTS_CHANGED = "rights_changed"
    TOTP_ENROLLED = "totp_enrolled"
    CAMERA_VIEW_START = "camera_view_start"
    CAMERA_VIEW_END = "camera_view_end"
    GRANT_CREATED = "grant_created"
    GRANT_REVOKED = "grant_revoked"
    MASK_LIFTED = "mask_lifted"
    EXTRACTION = "extraction"
    HANDOVER = "handover"
    PTZ_LEASE = "ptz_lease"
    PTZ_TAKEOVER = "ptz_takeover"
    PTZ_MOVE = "ptz_move"
    PTZ_PRESET = "ptz_preset"
    PTZ_HOME = "ptz_home"


def record_digest(record: AuditRecord) -> str:
    """The SHA-256 of a record's canonical JSON: its fields and the hash of the one before."""
    fields = {
        "id": record.pk, "at": record.at.isoformat(), "actor": record.actor_id,
        "actor_username": record.actor_username, "agency_code": record.agency_code,
        "address": record.address, "action": record.action, "object_type": record.object_type,
        "object_id": record.object_id, "reason": record.reason, "details": record.details,
        "prev_hash": record.prev_hash,
    }
    canonical = json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


@transaction.atomic
def audit(*, action: str, actor: User | None = None, address: str | None = None,
          obj: Model | None = None, object_type: str = "", object_id: str | int = "", reason: str = "",
          details: dict | None = None, actor_username: str = "") -> AuditRecord:
    """Append one record to the access journal (serialised: the chain has one tip)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [AUDIT_LOCK])
    head, _ = AuditHead.objects.select_for_update().get_or_create(pk=1, defaults={"last_hash": GENESIS})
    if obj is not None:
        object_type = object_type or obj._meta.label_lower
        object_id = object_id or obj.pk
    agency_code = ""
    if actor is not None and actor.pk:
        member = Member.objects.filter(user=actor).select_related("agency").first()
        agency_code = member.agency.code if member else ""
        actor_username = actor_username or actor.get_username()
    record = AuditRecord(
        actor=actor if actor is not None and actor.pk else None, actor_username=actor_username[:150],
        agency_code=agency_code, address=address or None, action=action,
        object_type=object_type[:40], object_id=str(object_id)[:64], reason=reason[:500],
        details=details or {}, prev_hash=head.last_hash, hash="pending")
    # The id is part of the hash: take it from the sequence before the row is written.
    with connection.cursor() as cursor:
        cursor.execute("SELECT nextval(pg_get_serial_sequence('partners_auditrecord', 'id'))")
        (record.pk,) = cursor.fetchone()
    record.hash = record_digest(record)
    record.save(force_insert=True)
    head.last_id, head.last_hash = record.pk, record.hash
    head.save(update_fields=["last_id", "last_hash"])
    return record


@dataclass(frozen=True)
class ChainBreak:
    record_id: int | None
    reason: str
    # Past the head: the newest records were deleted (and the head was left as it was).
    tail_deleted: bool = False


@dataclass
class ChainWalk:
    """What a walk along the chain found: where it broke, where it ended, how many records."""

    breaks: list[ChainBreak] = field(default_factory=list)
    last_id: int = 0
    last_hash: str = GENESIS
    count: int = 0


def chain_walk(*, after_id: int = 0, after_hash: str = GENESIS, until_id: int | None = None,
               visit: Callable[[AuditRecord, int], None] | None = None, chunk: int = 5000,
               max_breaks: int = 1000) -> ChainWalk:
    """Walk the records after ``after_id`` (whose hash is ``after_hash``) up to ``until_id``, in
    id order, checking each one's hash and its link to the one before.

    ``visit(record, count)`` is called for each record, ``count`` being how many records the
    walk has seen so far, that one included (from the start of the journal, the number of
    records up to it).
    """
    walk = ChainWalk(last_id=after_id, last_hash=after_hash)
    records = AuditRecord.objects.filter(pk__gt=after_id).order_by("id")
    if until_id is not None:
        records = records.filter(pk__lte=until_id)
    for record in records.iterator(chunk_size=chunk):
        if len(walk.breaks) < max_breaks:
            if record.prev_hash != walk.last_hash:
                walk.breaks.append(ChainBreak(record.pk, "does not follow the record before it "
                                              "(a record before it was deleted, inserted or altered)"))
            if record_digest(record) != record.hash:
                walk.breaks.append(ChainBreak(record.pk, "its content does not match its hash "
                                              "(the row was edited)"))
        walk.count += 1
        walk.last_id, walk.last_hash = record.pk, record.hash
        if visit is not None:
            visit(record, walk.count)
    return walk


def head_break(walk: ChainWalk) -> ChainBreak | None:
    """Whether the journal ends where its head (``AuditHead``) says it does."""
    head = AuditHead.objects.filter(pk=1).first()
    if head is None:
        if walk.count:
            return ChainBreak(None, "the journal's head is missing (deleted)")
        return None
    if head.last_id == walk.last_id and head.last_hash == walk.last_hash:
        return None
    return ChainBreak(head.last_id or None, f"the journal should end at record #{head.last_id}, "
                      f"it ends at #{walk.last_id} (the newest records were deleted or altered)",
                      tail_deleted=head.last_id > walk.last_id)


def audit_chain_breaks(*, chunk: int = 5000) -> Iterator[ChainBreak]:
    """Walk the whole chain in id order; yield where it breaks (the first one is what matters).

    This checks the journal against itself only: someone who can write to the database can
    recompute every hash and the head. ``partners.anchor.audit_verify`` also checks it against
    the signed anchors kept outside the database.
    """
    walk = chain_walk(chunk=chunk)
    yield from walk.breaks
    last = head_break(walk)
    if last is not None:
        yield last
