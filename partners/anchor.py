"""Anchors of the access journal: its head, signed with a key kept outside the database, and
kept where the database's owner cannot rewrite it.

The hash chain (``partners.audit``) detects an edited, inserted or deleted row, but whoever
can write to the database can also recompute every hash and the head, move the head back
after deleting the newest rows, or empty the table. An *anchor* pins down what the journal
was at a moment, outside the database:

- what is signed: ``{"format", "seq", "at", "last_id", "last_hash", "count", "key_id"}``:
  the id and hash of the last record, how many records there were up to it, when, and a
  sequence number (1, 2, …; one more than the anchor before). The Ed25519 signature covers
  the canonical JSON of those fields (keys sorted, no spaces) and is added as ``sig``
  (base64); ``key_id`` is the SHA-256 fingerprint of the public key. One anchor is one line
  of JSON.
- the key: ``HUB_AUDIT_ANCHOR_KEY_PATH``, a file (0600) of its own, not the extractions' key:
  the two are held and rotated for different people (auditors of the journal, magistrates
  receiving exports), and a leak of one must not let anyone forge the other's signatures.
- where anchors go: appended (``O_APPEND``, ``fsync``) to ``HUB_AUDIT_ANCHOR_FILE``, on a path
  configured apart from the database's data, with the file system's append-only flag
  (``chattr +a``) set when ``HUB_AUDIT_ANCHOR_APPEND_ONLY_FLAG`` asks for it and the process may
  (root, and a file system that has the flag); and copied to a syslog server over TCP
  (``HUB_AUDIT_SYSLOG``, RFC 5424 messages framed by octet counting, RFC 6587). A syslog
  server that is down breaks nothing: the anchor is in the file, an error is logged, and the
  copies not yet sent are sent again at the next anchoring.
- when: by Celery beat every ``HUB_AUDIT_ANCHOR_SECONDS`` if the journal moved since the last
  anchor (and every ``HUB_AUDIT_ANCHOR_HEARTBEAT_SECONDS`` even if not), and on demand
  (``python manage.py anchor_audit``).

Before writing an anchor, the hub checks that the journal still holds what the previous
anchor signed and that the chain runs on from it to the head; if not, it writes no anchor and
raises the alarm (a critical log line, and a syslog message). ``audit_verify`` checks the whole
journal against every anchor (``python manage.py verify_audit``).
"""

from __future__ import annotations

import base64
import datetime as dt
import fcntl
import json
import logging
import os
import re
import socket
import struct
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from enum import IntEnum
from pathlib import Path
from urllib.parse import urlparse

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from django.conf import settings
from django.db import connection
from django.utils import timezone

from partners import signing
from partners.audit import GENESIS, ChainBreak, chain_walk, head_break
from partners.models import AuditRecord

FORMAT = "csu-audit-anchor/1"
SYSLOG_APP = "csu-audit-anchor"
# Lines of a syslog store that mention this are meant to be anchors: one that does not parse
# or verify is reported, other lines are someone else's and are skipped.
MARKER = "csu-audit-anchor"
# At most this many anchors are sent again to a syslog server that was down, or new.
SYSLOG_BACKLOG = 1000
# RFC 5424 PRI: facility authpriv (10), severity notice (5) for anchors, critical (2) for alarms.
PRI_ANCHOR, PRI_ALARM = 10 * 8 + 5, 10 * 8 + 2

# Linux ioctls of the file attributes (what chattr and lsattr use).
FS_IOC_GETFLAGS, FS_IOC_SETFLAGS, FS_APPEND_FL = 0x80086601, 0x40086602, 0x00000020

logger = logging.getLogger("partners.anchor")

_HEX64 = re.compile(r"[0-9a-f]{64}")


class AnchorRefused(Exception):
    """The journal no longer holds what the last anchor signed: no new anchor is written."""


class AnchorInvalid(ValueError):
    """A line that should be an anchor and is not a valid one (the message says why)."""


@dataclass(frozen=True)
class Anchor:
    seq: int
    at: str
    last_id: int
    last_hash: str
    count: int
    key_id: str
    sig: str = ""

    def signed_fields(self) -> dict:
        return {"format": FORMAT, "seq": self.seq, "at": self.at, "last_id": self.last_id,
                "last_hash": self.last_hash, "count": self.count, "key_id": self.key_id}

    def payload(self) -> bytes:
        """The bytes signed: the canonical JSON of every field but the signature."""
        return json.dumps(self.signed_fields(), sort_keys=True, separators=(",", ":")).encode()

    def line(self) -> str:
        return json.dumps({**self.signed_fields(), "sig": self.sig}, sort_keys=True, separators=(",", ":"))

    @property
    def time(self) -> dt.datetime:
        return dt.datetime.fromisoformat(self.at)

    def describe(self) -> str:
        return (f"anchor #{self.seq} of {self.at} (record #{self.last_id}, {self.count} records, "
                f"hash {self.last_hash[:16]}…)")


def anchor_key() -> Ed25519PrivateKey:
    """The anchoring key (``HUB_AUDIT_ANCHOR_KEY_PATH``), generated (0600) on first use."""
    return signing.ed25519_key(Path(settings.HUB_AUDIT_ANCHOR_KEY_PATH))


def anchor_public_key() -> Ed25519PublicKey | None:
    """The anchoring key's public half, if the key exists (verifying never creates one)."""
    path = Path(settings.HUB_AUDIT_ANCHOR_KEY_PATH)
    if not path.is_file():
        return None
    return signing.load_public_pem(path.read_bytes())


def anchor_sign(anchor: Anchor, key: Ed25519PrivateKey) -> Anchor:
    unsigned = replace(anchor, key_id=signing.fingerprint(key.public_key()), sig="")
    return replace(unsigned, sig=base64.b64encode(key.sign(unsigned.payload())).decode())


def anchor_parse(text: str) -> Anchor:
    """An anchor from a line of the anchor file, or of a syslog store (the JSON object starts at
    the line's first ``{``: a syslog server puts its time, host and tag before it)."""
    start = text.find("{")
    if start < 0:
        raise AnchorInvalid("no JSON object")
    try:
        data = json.loads(text[start:])
    except ValueError as exc:
        raise AnchorInvalid(f"not JSON ({exc.__class__.__name__})") from exc
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise AnchorInvalid(f"not a {FORMAT} object")
    expected = {"format", "seq", "at", "last_id", "last_hash", "count", "key_id", "sig"}
    if set(data) != expected:
        raise AnchorInvalid(f"fields {sorted(set(data) ^ expected)} unexpected or missing")
    for name in ("seq", "last_id", "count"):
        if type(data[name]) is not int or data[name] < 0:
            raise AnchorInvalid(f"{name} is not a whole number")
    for name in ("last_hash", "key_id"):
        if not isinstance(data[name], str) or not _HEX64.fullmatch(data[name]):
            raise AnchorInvalid(f"{name} is not 64 hexadecimal digits")
    if not isinstance(data["at"], str) or not isinstance(data["sig"], str):
        raise AnchorInvalid("at or sig is not a string")
    try:
        moment = dt.datetime.fromisoformat(data["at"])
    except ValueError as exc:
        raise AnchorInvalid("at is not an ISO 8601 time") from exc
    if moment.tzinfo is None:
        raise AnchorInvalid("at has no time zone")
    del data["format"]
    return Anchor(**data)


def anchor_check(anchor: Anchor, keyring: dict[str, Ed25519PublicKey]) -> None:
    """Raise ``AnchorInvalid`` unless a key of ``keyring`` signed ``anchor``."""
    key = keyring.get(anchor.key_id)
    if key is None:
        raise AnchorInvalid(f"signed by an unknown key ({anchor.key_id[:16]}…)")
    try:
        key.verify(base64.b64decode(anchor.sig, validate=True), anchor.payload())
    except (InvalidSignature, ValueError) as exc:
        raise AnchorInvalid("the signature does not match (the line was forged or altered)") from exc


def keyring_of(keys: Iterable[Ed25519PublicKey]) -> dict[str, Ed25519PublicKey]:
    return {signing.fingerprint(key): key for key in keys}


# --- The append-only file.

def _lines_backwards(path: Path, block: int = 65536) -> Iterator[str]:
    """The file's non-empty lines, last first, reading only as much of it as needed."""
    with path.open("rb") as stream:
        stream.seek(0, os.SEEK_END)
        position, rest = stream.tell(), b""
        while position > 0:
            step = min(block, position)
            position -= step
            stream.seek(position)
            parts = (stream.read(step) + rest).split(b"\n")
            rest = parts[0]
            for part in reversed(parts[1:]):
                if part.strip():
                    yield part.decode("utf-8", errors="replace")
        if rest.strip():
            yield rest.decode("utf-8", errors="replace")


def _latest_valid(path: Path, keyring: dict[str, Ed25519PublicKey]) -> Anchor | None:
    """The last anchor of our file that verifies; lines after it that do not are an alarm."""
    if not path.exists():
        return None
    for index, text in enumerate(_lines_backwards(path)):
        if index >= SYSLOG_BACKLOG:
            logger.critical("access journal anchors: no valid anchor among the last %d lines of %s",
                            index, path)
            return None
        try:
            anchor = anchor_parse(text)
            anchor_check(anchor, keyring)
        except AnchorInvalid as exc:
            logger.critical("access journal anchors: the line %d from the end of %s is not a valid "
                            "anchor (%s)", index + 1, path, exc)
            continue
        return anchor
    return None


def _append(path: Path, text: str) -> None:
    """One line appended in a single write (concurrent writers never interleave), then fsync."""
    path.parent.mkdir(parents=True, exist_ok=True)
    created = not path.exists()
    descriptor = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
    try:
        data = (text + "\n").encode()
        written = os.write(descriptor, data)
        if written != len(data):
            raise OSError(f"short write to {path} ({written} of {len(data)} bytes)")
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
    if created:
        directory = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)


def append_only_flag(path: Path, *, set_it: bool = False) -> str:
    """``"set"`` if the file system's append-only flag (``chattr +a``) is on ``path``, else
    why not. With ``set_it``, try to set it first (root and a file system that has it, such as
    ext4 or XFS; the flag then stops anyone, root included, from rewriting or removing the file
    until root clears it)."""
    try:
        descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except OSError as exc:
        return f"not set: {exc.strerror}"
    try:
        buffer = fcntl.ioctl(descriptor, FS_IOC_GETFLAGS, struct.pack("i", 0))
        (flags,) = struct.unpack("i", buffer)
        if flags & FS_APPEND_FL:
            return "set"
        if not set_it:
            return "not set"
        fcntl.ioctl(descriptor, FS_IOC_SETFLAGS, struct.pack("i", flags | FS_APPEND_FL))
        return "set"
    except OSError as exc:
        return f"not set: {exc.strerror or exc} (needs root and a file system with the flag)"
    finally:
        os.close(descriptor)


class _Lock:
    """An exclusive lock beside the anchor file: one anchoring at a time, across processes."""

    def __init__(self, path: Path) -> None:
        self.path = path.with_name(path.name + ".lock")

    def __enter__(self) -> _Lock:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.descriptor = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        fcntl.flock(self.descriptor, fcntl.LOCK_EX)
        return self

    def __exit__(self, *exc_info) -> None:
        fcntl.flock(self.descriptor, fcntl.LOCK_UN)
        os.close(self.descriptor)


# --- The syslog copy.

def _syslog_address(url: str) -> tuple[str, int]:
    parsed = urlparse(url)
    if parsed.scheme != "tcp" or not parsed.hostname or not parsed.port:
        raise ValueError(f"HUB_AUDIT_SYSLOG must be tcp://host:port, got {url!r}")
    return parsed.hostname, parsed.port


def _syslog_frame(message: str, *, at: str, pri: int, msgid: str) -> bytes:
    """An RFC 5424 message, octet-counted (RFC 6587 §3.4.1) for a TCP stream."""
    host = (socket.gethostname() or "-")[:255].replace(" ", "-")
    body = f"<{pri}>1 {at} {host} {SYSLOG_APP} {os.getpid()} {msgid} - {message}".encode()
    return str(len(body)).encode() + b" " + body


def syslog_send(frames: list[bytes], *, url: str, timeout: float) -> None:
    """Send frames over one TCP connection; raise ``OSError`` if the server cannot be reached.

    Plain syslog over TCP has no acknowledgement: after sending, the connection is half-closed
    and the server's own close awaited, so that a server that died meanwhile shows as a reset.
    """
    host, port = _syslog_address(url)
    with socket.create_connection((host, port), timeout=timeout) as sock:
        sock.sendall(b"".join(frames))
        sock.shutdown(socket.SHUT_WR)
        try:
            while sock.recv(4096):
                pass
        except TimeoutError:
            pass


def _cursor_path(path: Path) -> Path:
    return path.with_name(path.name + ".syslog")


def _syslog_cursor(path: Path, url: str) -> int:
    """The last sequence number the syslog server at ``url`` was sent (0: none, or another server)."""
    try:
        data = json.loads(_cursor_path(path).read_text())
    except (OSError, ValueError):
        return 0
    return int(data.get("seq", 0)) if data.get("url") == url else 0


def _syslog_cursor_save(path: Path, url: str, seq: int) -> None:
    cursor = _cursor_path(path)
    tmp = cursor.with_name(cursor.name + ".tmp")
    tmp.write_text(json.dumps({"url": url, "seq": seq}))
    tmp.replace(cursor)


def _syslog_catch_up(path: Path) -> str:
    """Send the anchors the syslog server has not had yet; what happened, in a few words."""
    url = settings.HUB_AUDIT_SYSLOG
    if not url:
        return "off"
    if not path.exists():
        return "nothing to send"
    sent = _syslog_cursor(path, url)
    pending: list[Anchor] = []
    for text in _lines_backwards(path):
        try:
            anchor = anchor_parse(text)
        except AnchorInvalid:
            continue
        if anchor.seq <= sent or len(pending) >= SYSLOG_BACKLOG:
            break
        pending.append(anchor)
    if not pending:
        return "up to date"
    pending.reverse()
    frames = [_syslog_frame(anchor.line(), at=anchor.at, pri=PRI_ANCHOR, msgid="anchor")
              for anchor in pending]
    try:
        syslog_send(frames, url=url, timeout=settings.HUB_AUDIT_SYSLOG_TIMEOUT_SECONDS)
    except (OSError, ValueError) as exc:
        logger.error("access journal anchors: the syslog copy to %s failed (%s); %d anchor(s) pending, "
                     "sent again at the next anchoring", url, exc, len(pending))
        return f"failed ({exc}); {len(pending)} pending"
    _syslog_cursor_save(path, url, pending[-1].seq)
    return f"sent {len(pending)}"


def _alarm(text: str) -> None:
    """Tell whoever watches: a critical log line, and the syslog server (once, best effort)."""
    logger.critical("access journal: %s", text)
    url = settings.HUB_AUDIT_SYSLOG
    if not url:
        return
    frame = _syslog_frame(f"ALARM access journal: {text}", at=timezone.now().isoformat(), pri=PRI_ALARM,
                          msgid="alarm")
    try:
        syslog_send([frame], url=url, timeout=settings.HUB_AUDIT_SYSLOG_TIMEOUT_SECONDS)
    except (OSError, ValueError) as exc:
        logger.error("access journal: the alarm could not be sent to %s (%s)", url, exc)


# --- Anchoring.

def _journal_head() -> tuple[int, str]:
    """``(last_id, last_hash)`` of the journal's head (a record and the head's move to it are
    committed together, so every record up to ``last_id`` is there to read)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT last_id, last_hash FROM partners_audithead WHERE id = 1")
        row = cursor.fetchone()
        if row is not None:
            return int(row[0]), row[1]
        cursor.execute("SELECT EXISTS (SELECT 1 FROM partners_auditrecord)")
        (any_record,) = cursor.fetchone()
    if any_record:
        raise AnchorRefused("the journal holds records but its head is missing (deleted)")
    return 0, GENESIS


def _continuity(previous: Anchor | None, last_id: int, last_hash: str) -> int:
    """Raise ``AnchorRefused`` unless the journal still holds what ``previous`` signed and the
    chain runs on from there to the head; return how many records there are up to the head.

    Reads one record and those written since ``previous``: the hash of the record ``previous``
    signed covers, through the chain, every record before it, so their count is still the one
    ``previous`` signed.
    """
    after_id, after_hash, after_count = 0, GENESIS, 0
    if previous is not None:
        if last_id < previous.last_id:
            raise AnchorRefused(f"the journal now ends at #{last_id}, before record #{previous.last_id} "
                                f"that {previous.describe()} signed: its newest records were deleted")
        if previous.last_id:
            stored = AuditRecord.objects.filter(pk=previous.last_id).values_list("hash", flat=True).first()
            if stored is None:
                raise AnchorRefused(f"record #{previous.last_id}, signed by {previous.describe()}, is gone")
            if stored != previous.last_hash:
                raise AnchorRefused(f"record #{previous.last_id} no longer has the hash "
                                    f"{previous.describe()} signed: the journal was rewritten")
        after_id, after_hash, after_count = previous.last_id, previous.last_hash, previous.count
    walk = chain_walk(after_id=after_id, after_hash=after_hash, until_id=last_id, max_breaks=1)
    if walk.breaks:
        first = walk.breaks[0]
        raise AnchorRefused(f"record #{first.record_id}: {first.reason}")
    if (walk.last_id, walk.last_hash) != (last_id, last_hash):
        raise AnchorRefused(f"the journal's head (#{last_id}) is not where its chain ends (#{walk.last_id})")
    return after_count + walk.count


@dataclass(frozen=True)
class AnchorResult:
    anchor: Anchor | None  # the new anchor, or (not written) the latest one
    written: bool
    path: Path
    append_only: str  # "set", or why not
    syslog: str  # what the syslog copy did


def audit_anchor(*, force: bool = True, rebase: bool = False, now: dt.datetime | None = None) -> AnchorResult:
    """Sign the journal's head and append it to the anchor file, then bring the syslog copy up
    to date. Without ``force`` (the periodic task), nothing is written if the journal has not
    moved since the latest anchor and that anchor is younger than the heartbeat.

    Raises ``AnchorRefused`` (after raising the alarm) if the journal no longer holds what the
    latest anchor signed. ``rebase`` anchors it all the same (the alarm is still raised): once
    the break has been investigated, anchoring must go on from what the journal now holds;
    the earlier anchors keep showing the break to ``verify_audit``.
    """
    now = now or timezone.now()
    path = Path(settings.HUB_AUDIT_ANCHOR_FILE)
    key = anchor_key()
    with _Lock(path):
        previous = _latest_valid(path, keyring_of([key.public_key()]))
        try:
            last_id, last_hash = _journal_head()
            count = _continuity(previous, last_id, last_hash)
        except AnchorRefused as exc:
            if not rebase:
                _alarm(f"{exc}; no anchor written (python manage.py verify_audit tells more)")
                raise
            _alarm(f"{exc}; anchored all the same (rebase)")
            last_id, last_hash = _journal_head()
            count = AuditRecord.objects.filter(pk__lte=last_id).count()
        unchanged = previous is not None and (previous.last_id, previous.last_hash) == (last_id, last_hash)
        heartbeat = dt.timedelta(seconds=settings.HUB_AUDIT_ANCHOR_HEARTBEAT_SECONDS)
        anchor, written = previous, False
        if force or not unchanged or previous is None or now - previous.time >= heartbeat:
            anchor = anchor_sign(Anchor(seq=(previous.seq + 1) if previous else 1,
                                        at=now.astimezone(dt.UTC).isoformat(), last_id=last_id,
                                        last_hash=last_hash, count=count, key_id=""), key)
            _append(path, anchor.line())
            written = True
        append_only = append_only_flag(path, set_it=settings.HUB_AUDIT_ANCHOR_APPEND_ONLY_FLAG)
        syslog = _syslog_catch_up(path)
    return AnchorResult(anchor=anchor, written=written, path=path, append_only=append_only, syslog=syslog)


# --- Verifying the journal against the anchors.

class Finding(IntEnum):
    """What is wrong; the value is ``verify_audit``'s exit status."""

    CHAIN_BROKEN = 2  # a row edited, inserted or deleted without recomputing the chain
    REWRITTEN = 3  # the chain was recomputed: an anchored record's hash (or count) differs
    TAIL_DELETED = 4  # the newest records were deleted (and the head moved back)
    TRUNCATED = 5  # no records left, while anchors signed some
    ANCHOR_INVALID = 6  # a line that should be an anchor does not verify (forged or altered)
    UNANCHORED = 7  # no valid anchor to check against


# The finding reported first (and whose exit status is returned), when there are several.
SEVERITY = [Finding.TRUNCATED, Finding.TAIL_DELETED, Finding.REWRITTEN, Finding.ANCHOR_INVALID,
            Finding.CHAIN_BROKEN, Finding.UNANCHORED]


@dataclass(frozen=True)
class Problem:
    finding: Finding
    message: str


@dataclass
class Verification:
    records: int = 0
    anchors: int = 0  # valid anchors checked
    latest: Anchor | None = None
    after_latest: int = 0  # records written after the latest anchor (the chain alone vouches for them)
    problems: list[Problem] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def worst(self) -> Problem | None:
        return min(self.problems, key=lambda problem: SEVERITY.index(problem.finding), default=None)


def anchors_read(paths: Iterable[Path], keyring: dict[str, Ed25519PublicKey]
                 ) -> tuple[list[Anchor], list[Problem]]:
    """The valid anchors of ``paths`` (anchor files or syslog stores), one per sequence number,
    in order; and a problem for each line that should be an anchor and is not."""
    by_seq: dict[int, Anchor] = {}
    problems: list[Problem] = []
    for path in paths:
        with Path(path).open(encoding="utf-8", errors="replace") as lines:
            for number, text in enumerate(lines, start=1):
                if MARKER not in text:
                    continue
                try:
                    anchor = anchor_parse(text)
                    anchor_check(anchor, keyring)
                except AnchorInvalid as exc:
                    problems.append(Problem(Finding.ANCHOR_INVALID, f"{path}, line {number}: not a valid "
                                                                    f"anchor: {exc}"))
                    continue
                known = by_seq.setdefault(anchor.seq, anchor)
                if known.payload() != anchor.payload():
                    problems.append(Problem(Finding.ANCHOR_INVALID, f"{path}, line {number}: two anchors "
                                            f"signed with sequence #{anchor.seq} differ"))
    return [by_seq[seq] for seq in sorted(by_seq)], problems


def audit_verify(*, anchor_paths: list[Path], public_keys: list[Ed25519PublicKey],
                 require_anchor: bool = True, now: dt.datetime | None = None) -> Verification:
    """Check the journal's chain, then the journal against every valid anchor of ``anchor_paths``.

    Each anchored record must still be there with the hash and the count of records up to it
    that the anchor signed: a journal rewritten with recomputed hashes, whose newest records
    were deleted with the head moved back, or that was emptied, does not pass. Records written
    after the latest anchor are vouched for by the chain alone.
    """
    now = now or timezone.now()
    result = Verification()
    anchors, result.problems = anchors_read(anchor_paths, keyring_of(public_keys))
    result.anchors = len(anchors)
    result.latest = anchors[-1] if anchors else None
    anchored: dict[int, list[Anchor]] = {}
    for anchor in anchors:
        if anchor.last_id:
            anchored.setdefault(anchor.last_id, []).append(anchor)
    seen: set[int] = set()
    rewritten: list[tuple[Anchor, str]] = []
    matched_last = 0  # the last anchored record that still matches, before any that does not

    def visit(record: AuditRecord, count: int) -> None:
        nonlocal matched_last
        for anchor in anchored.get(record.pk, ()):
            seen.add(record.pk)
            if record.hash != anchor.last_hash:
                rewritten.append((anchor, f"record #{record.pk} does not have the hash {anchor.describe()} "
                                          f"signed"))
            elif count != anchor.count:
                rewritten.append((anchor, f"{count} records up to #{record.pk}, {anchor.describe()} signed "
                                          f"{anchor.count}: records before it were deleted or inserted"))
            elif not rewritten:
                matched_last = record.pk

    walk = chain_walk(visit=visit)
    result.records = walk.count
    latest = result.latest
    if walk.count == 0 and latest is not None and latest.count > 0:
        result.problems.append(Problem(Finding.TRUNCATED, f"the journal is empty, but {latest.describe()} "
                                       f"signed {latest.count} records: it was emptied (TRUNCATE or DELETE)"))
        return result
    for chain_break in walk.breaks:
        result.problems.append(_chain_problem(chain_break))
    last = head_break(walk)
    if last is not None:
        result.problems.append(_chain_problem(last))
    missing = sorted(set(anchored) - seen)
    beyond = [anchor_id for anchor_id in missing if anchor_id > walk.last_id]
    if beyond:
        signer = max(anchored[beyond[-1]], key=lambda anchor: anchor.seq)
        result.problems.append(Problem(Finding.TAIL_DELETED, (
            f"the journal ends at record #{walk.last_id} ({walk.count} records), but {signer.describe()} "
            f"signed it up to #{signer.last_id}: the newest records were deleted"
            + (" and the head moved back" if last is None else ""))))
    for anchor_id in missing:
        if anchor_id <= walk.last_id:
            signer = anchored[anchor_id][0]
            result.problems.append(Problem(Finding.REWRITTEN, (
                f"record #{anchor_id}, signed by {signer.describe()}, is missing: it was deleted and the "
                f"chain recomputed around it")))
    if rewritten:
        anchor, text = rewritten[0]
        since = (f" (after #{matched_last}, the last anchored record that still matches)"
                 if matched_last else "")
        more = f"; {len(rewritten) - 1} later anchor(s) disagree too" if len(rewritten) > 1 else ""
        result.problems.append(Problem(Finding.REWRITTEN, f"{text}: the journal was rewritten at or before "
                                                          f"#{anchor.last_id}{since}{more}"))
    if latest is None:
        if require_anchor:
            result.problems.append(Problem(Finding.UNANCHORED, (
                "no valid anchor to check against: a journal rewritten with recomputed hashes would pass "
                "(python manage.py anchor_audit writes one)")))
    else:
        result.after_latest = max(0, walk.count - latest.count)
        heartbeat = settings.HUB_AUDIT_ANCHOR_HEARTBEAT_SECONDS
        age = now - latest.time
        if age > dt.timedelta(seconds=2 * heartbeat):
            result.warnings.append(f"the latest anchor is {_duration(age)} old: anchoring stopped, or the "
                                   f"newest anchors are missing from {', '.join(map(str, anchor_paths))}")
    return result


def _chain_problem(chain_break: ChainBreak) -> Problem:
    where = f"record #{chain_break.record_id}" if chain_break.record_id else "the journal"
    finding = Finding.TAIL_DELETED if chain_break.tail_deleted else Finding.CHAIN_BROKEN
    return Problem(finding, f"{where}: {chain_break.reason}")


def _duration(delta: dt.timedelta) -> str:
    seconds = int(delta.total_seconds())
    if seconds >= 2 * 86400:
        return f"{seconds // 86400} days"
    if seconds >= 2 * 3600:
        return f"{seconds // 3600} hours"
    return f"{seconds // 60} minutes"
