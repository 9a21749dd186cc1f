"""Where recordings live: a local directory, or an S3-compatible object store.

Every recorded object (a segment, a snapshot) has a *key*, the relative path its index row keeps
(``RecordingSegment.path``, ``Snapshot.path``). :func:`recording_store` gives the store the
settings name (``HUB_RECORDINGS_STORAGE``): ``local`` keeps the objects under
``HUB_RECORDINGS_DIR`` (the default), ``s3`` in the bucket ``HUB_S3_BUCKET`` of
``HUB_S3_ENDPOINT``. In both modes a segment is first written under ``HUB_RECORDINGS_DIR``
(``recordings.recorder``); in ``s3`` mode that directory is only the recorder's buffer.

The S3 client is boto3, the AWS SDK: the most used S3 client for Python, kept by AWS with the
service's API (Object Lock legal holds, ranged GETs, multipart uploads through its transfer
manager), and spoken by every S3-compatible store (SeaweedFS in the tests and ``make run``).

Legal holds are S3 Object Lock legal holds: the bucket is created with Object Lock enabled
(so versioned), and a held object version cannot be deleted, even with the hub's own keys.
Destroying an object deletes every version of its key (a plain DELETE would only hide it
behind a delete marker).
"""

from __future__ import annotations

import functools
import io
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any, Protocol

from django.conf import settings

# Above this size a file is sent in parts (S3 multipart upload), this size each.
MULTIPART_BYTES = 16 * 1024 * 1024
# A ranged reader fetches at least this much per GET: MP4 demuxers read a few KB at a time.
READ_BLOCK_BYTES = 1024 * 1024


class StoreUnavailable(Exception):
    """The object store did not answer, or answered an error: nothing was stored."""


class ObjectHeld(Exception):
    """The store refused to delete an object under a legal hold."""


class RecordingStore(Protocol):
    """What the recorder, the retention sweep, extractions and snapshots need of a store."""

    kind: str

    def put_file(self, key: str, path: Path) -> None:
        """Store the complete file ``path`` as ``key`` (replacing it); once this returns, it is there."""

    def read_range(self, key: str, start: int, length: int) -> bytes:
        """``length`` bytes of ``key`` from ``start`` (fewer at its end)."""

    def open(self, key: str) -> IO[bytes]:
        """A seekable binary reader of ``key``, reading only what is asked of it."""

    def size(self, key: str) -> int:
        """The size of ``key`` in bytes (FileNotFoundError when absent)."""

    def exists(self, key: str) -> bool: ...

    def delete(self, key: str) -> bool:
        """Destroy ``key``, every version of it. False when it was not there; ObjectHeld when held."""

    def keys(self, prefix: str = "") -> Iterator[str]:
        """The keys under ``prefix``, in order."""

    def prefixes(self, prefix: str, *, start_after: str = "") -> Iterator[str]:
        """The prefixes one level below ``prefix`` (which ends with ``/``) that sort after
        ``start_after`` (S3's ``StartAfter``: ``start_after + "/"`` itself may be given or not, as
        stores differ), each ending with ``/``, in order: ``CAM/`` gives ``CAM/20261207/``…, not
        the keys under them. One request to an S3 store (a page of 1,000), one directory read on
        a disk. A store may keep listing a prefix whose objects were all deleted (SeaweedFS
        keeps the folder)."""

    def hold_set(self, key: str, *, held: bool) -> None:
        """Put (``held``) or clear the legal hold on ``key`` (a directory has no holds: no-op)."""

    def check(self) -> None:
        """Raise StoreUnavailable unless the store answers (the presence check)."""


class LocalStore:
    """The objects as files under ``root`` (``HUB_RECORDINGS_DIR``). Legal holds are kept by the
    index alone (``recordings.retention`` never destroys what a hold covers)."""

    kind = "local"

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def path(self, key: str) -> Path:
        return self.root / key

    def put_file(self, key: str, path: Path) -> None:
        target = self.path(key)
        if Path(path).resolve() == target.resolve():
            return  # written in place by the recorder
        target.parent.mkdir(parents=True, exist_ok=True)
        part = target.with_name(target.name + ".part")
        shutil.copyfile(path, part)
        part.rename(target)

    def read_range(self, key: str, start: int, length: int) -> bytes:
        with self.path(key).open("rb") as handle:
            handle.seek(start)
            return handle.read(length)

    def open(self, key: str) -> IO[bytes]:
        return self.path(key).open("rb")

    def size(self, key: str) -> int:
        return self.path(key).stat().st_size

    def exists(self, key: str) -> bool:
        return self.path(key).is_file()

    def delete(self, key: str) -> bool:
        path = self.path(key)
        try:
            path.unlink()
        except FileNotFoundError:
            return False
        # A directory left empty goes, as an S3 prefix does with its last object: the retention
        # sweep's listing of a camera's days (``prefixes``) then never walks the emptied ones.
        # Only days past their retention empty out, which no recorder writes into any more.
        parent = path.parent
        while parent != self.root and self.root in parent.parents:
            try:
                parent.rmdir()
            except OSError:  # not empty (or already gone)
                break
            parent = parent.parent
        return True

    def keys(self, prefix: str = "") -> Iterator[str]:
        # Walk only the directory the prefix names (or its deepest one), never the whole tree:
        # a camera's day is one directory among millions of files.
        base = self.root / prefix.rsplit("/", 1)[0] if "/" in prefix else self.root
        if not base.is_dir():
            return
        for path in sorted(base.rglob("*")):
            key = path.relative_to(self.root).as_posix()
            if path.is_file() and key.startswith(prefix) and not key.endswith(".part"):
                yield key

    def prefixes(self, prefix: str, *, start_after: str = "") -> Iterator[str]:
        base = self.path(prefix)
        if not base.is_dir():
            return
        for path in sorted(base.iterdir()):
            name = f"{prefix}{path.name}/"
            if path.is_dir() and name > start_after:
                yield name

    def hold_set(self, key: str, *, held: bool) -> None:
        return None

    def check(self) -> None:
        if not self.root.is_dir():
            try:
                self.root.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise StoreUnavailable(str(exc)) from exc


class _RangeReader(io.RawIOBase):
    """A seekable reader of one S3 object by ranged GETs, a block at a time (the last one kept):
    a demuxer that seeks to the index at the end of an MP4, then to a keyframe, fetches those
    blocks, never the whole object."""

    def __init__(self, store: S3Store, key: str) -> None:
        super().__init__()
        self.store, self.key = store, key
        self.length = store.size(key)
        self.position = 0
        self.block_start = -1
        self.block = b""
        self.fetched = 0  # bytes fetched from the store (what a test checks)

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self.position

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self.position, io.SEEK_END: self.length}[whence]
        self.position = max(0, base + offset)
        return self.position

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        if self.position >= self.length or not len(view):
            return 0
        inside = self.block_start <= self.position < self.block_start + len(self.block)
        if not inside:
            self.block_start = self.position
            # A block, whatever the caller asked: a short read is allowed, and PyAV asks 32 KiB
            # at a time even of a file it will seek through.
            self.block = self.store.read_range(self.key, self.position, READ_BLOCK_BYTES)
            self.fetched += len(self.block)
            if not self.block:
                return 0
        offset = self.position - self.block_start
        count = min(len(view), len(self.block) - offset)
        view[:count] = self.block[offset:offset + count]
        self.position += count
        return count


class S3Store:
    """The objects in the bucket ``bucket`` of an S3-compatible store (boto3)."""

    kind = "s3"

    def __init__(self, *, endpoint: str, bucket: str, access_key: str, secret_key: str,
                 region: str = "us-east-1", timeout: float = 5.0) -> None:
        import boto3
        from botocore.config import Config

        self.bucket = bucket
        # Short timeouts and one retry: the recorder must learn within seconds that the store is
        # down, and buffer to its disk meanwhile, rather than hang on a dead connection.
        self.client = boto3.client(
            "s3", endpoint_url=endpoint or None, aws_access_key_id=access_key or None,
            aws_secret_access_key=secret_key or None, region_name=region or "us-east-1",
            config=Config(s3={"addressing_style": "path"}, connect_timeout=timeout, read_timeout=timeout * 4,
                          retries={"max_attempts": 2, "mode": "standard"}))

    def _call(self, method: str, **kwargs: Any) -> Any:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return getattr(self.client, method)(Bucket=self.bucket, **kwargs)
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
            if code in {"NoSuchKey", "404", "NotFound"}:
                raise FileNotFoundError(kwargs.get("Key", "")) from exc
            if code == "AccessDenied" and method == "delete_object":
                raise ObjectHeld(kwargs.get("Key", "")) from exc
            if status >= 500 or code in {"SlowDown", "ServiceUnavailable", "InternalError"}:
                raise StoreUnavailable(f"{method}: {code or status}") from exc
            raise StoreUnavailable(f"{method}: {code} ({exc})") from exc
        except (BotoCoreError, OSError) as exc:
            raise StoreUnavailable(f"{method}: {exc}") from exc

    def bucket_ensure(self) -> None:
        """Create the bucket, Object Lock enabled, unless it exists (``make run``, the tests)."""
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            self.client.head_bucket(Bucket=self.bucket)
            return
        except ClientError:
            pass
        except BotoCoreError as exc:
            raise StoreUnavailable(str(exc)) from exc
        self._call("create_bucket", ObjectLockEnabledForBucket=True)

    def put_file(self, key: str, path: Path) -> None:
        from boto3.exceptions import S3UploadFailedError
        from boto3.s3.transfer import TransferConfig
        from botocore.exceptions import BotoCoreError, ClientError

        config = TransferConfig(multipart_threshold=MULTIPART_BYTES, multipart_chunksize=MULTIPART_BYTES,
                                use_threads=False)
        try:
            self.client.upload_file(str(path), self.bucket, key, Config=config)
        except (ClientError, BotoCoreError, S3UploadFailedError, OSError) as exc:
            if isinstance(exc, FileNotFoundError):
                raise
            raise StoreUnavailable(f"upload of {key}: {exc}") from exc

    def read_range(self, key: str, start: int, length: int) -> bytes:
        if length <= 0:
            return b""
        answer = self._call("get_object", Key=key, Range=f"bytes={start}-{start + length - 1}")
        try:
            return answer["Body"].read()
        except Exception as exc:  # noqa: BLE001 - a connection cut while reading the body
            raise StoreUnavailable(f"read of {key}: {exc}") from exc

    def open(self, key: str) -> IO[bytes]:
        return _RangeReader(self, key)  # type: ignore[return-value]

    def size(self, key: str) -> int:
        return int(self._call("head_object", Key=key)["ContentLength"])

    def exists(self, key: str) -> bool:
        try:
            self.size(key)
        except FileNotFoundError:
            return False
        return True

    def _versions(self, key: str, *, markers: bool = True) -> list[str]:
        """Every version of exactly ``key`` (and its delete markers, with ``markers``)."""
        answer = self._call("list_object_versions", Prefix=key)
        items = answer.get("Versions", []) + (answer.get("DeleteMarkers", []) if markers else [])
        return [item["VersionId"] for item in items if item["Key"] == key and item.get("VersionId")]

    def delete(self, key: str) -> bool:
        versions = self._versions(key)
        for version in versions:
            self._call("delete_object", Key=key, VersionId=version)
        return bool(versions)

    def keys(self, prefix: str = "") -> Iterator[str]:
        token: str | None = None
        while True:
            answer = self._call("list_objects_v2", Prefix=prefix,
                                **({"ContinuationToken": token} if token else {}))
            for item in answer.get("Contents", []):
                yield item["Key"]
            token = answer.get("NextContinuationToken")
            if not answer.get("IsTruncated") or not token:
                return

    def prefixes(self, prefix: str, *, start_after: str = "") -> Iterator[str]:
        token: str | None = None
        while True:
            answer = self._call("list_objects_v2", Prefix=prefix, Delimiter="/",
                                **({"ContinuationToken": token} if token
                                   else {"StartAfter": start_after} if start_after else {}))
            for item in answer.get("CommonPrefixes", []):
                yield item["Prefix"]
            token = answer.get("NextContinuationToken")
            if not answer.get("IsTruncated") or not token:
                return

    def hold_set(self, key: str, *, held: bool) -> None:
        versions = self._versions(key, markers=False)
        if not versions:
            raise FileNotFoundError(key)
        for version in versions:
            self._call("put_object_legal_hold", Key=key, VersionId=version,
                       LegalHold={"Status": "ON" if held else "OFF"})

    def held(self, key: str) -> bool:
        """Whether a legal hold is on ``key``'s current version."""
        from botocore.exceptions import ClientError

        try:
            answer = self.client.get_object_legal_hold(Bucket=self.bucket, Key=key)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "NoSuchObjectLegalHold":
                return False  # never held
            raise StoreUnavailable(f"legal hold of {key}: {exc}") from exc
        return answer.get("LegalHold", {}).get("Status") == "ON"

    def check(self) -> None:
        self._call("head_bucket")


@functools.lru_cache(maxsize=8)
def _store(kind: str, root: str, endpoint: str, bucket: str, access_key: str, secret_key: str,
           region: str) -> RecordingStore:
    if kind == "s3":
        return S3Store(endpoint=endpoint, bucket=bucket, access_key=access_key, secret_key=secret_key,
                       region=region)
    if kind != "local":
        raise ValueError(f"HUB_RECORDINGS_STORAGE must be local or s3, not {kind!r}")
    return LocalStore(Path(root))


def recording_store() -> RecordingStore:
    """The store the settings name (one client per set of settings, shared by the threads)."""
    return _store(settings.HUB_RECORDINGS_STORAGE, str(settings.HUB_RECORDINGS_DIR), settings.HUB_S3_ENDPOINT,
                  settings.HUB_S3_BUCKET, settings.HUB_S3_ACCESS_KEY, settings.HUB_S3_SECRET_KEY,
                  settings.HUB_S3_REGION)



# An extraction's ``export_dir`` naming a prefix of the store (``s3`` mode), not a directory.
STORE_PREFIX = "store:"


class ExportFiles:
    """The files of one extraction (videos, manifest, signature, public key) where its
    ``export_dir`` says: a directory (``local`` mode, as ever), or ``store:<prefix>``, objects
    ``<prefix>/<name>`` of the recordings' store (``s3`` mode), read by ranges."""

    def __init__(self, export_dir: str) -> None:
        self.directory: Path | None = None
        self.prefix = ""
        if export_dir.startswith(STORE_PREFIX):
            self.prefix = export_dir[len(STORE_PREFIX):]
        else:
            self.directory = Path(export_dir)

    def _key(self, name: str) -> str:
        return f"{self.prefix}/{name}"

    def exists(self, name: str) -> bool:
        if self.directory is not None:
            return (self.directory / name).is_file()
        return recording_store().exists(self._key(name))

    def present(self) -> bool:
        """Whether the extraction is there (its directory, or its manifest's object)."""
        if self.directory is not None:
            return self.directory.is_dir()
        return self.exists("manifest.json")

    def size(self, name: str) -> int:
        if self.directory is not None:
            return (self.directory / name).stat().st_size
        return recording_store().size(self._key(name))

    def open(self, name: str) -> IO[bytes]:
        """A seekable reader (FileNotFoundError when absent)."""
        if self.directory is not None:
            return (self.directory / name).open("rb")
        store = recording_store()
        if not store.exists(self._key(name)):
            raise FileNotFoundError(name)
        return store.open(self._key(name))

    def read_bytes(self, name: str) -> bytes:
        with self.open(name) as handle:
            return handle.read()

    def sha256(self, name: str) -> str:
        import hashlib

        digest = hashlib.sha256()
        with self.open(name) as handle:
            for block in iter(lambda: handle.read(READ_BLOCK_BYTES), b""):
                digest.update(block)
        return digest.hexdigest()

    def unlink(self, name: str) -> bool:
        """Destroy one file; False when it was not there."""
        if self.directory is not None:
            try:
                (self.directory / name).unlink()
            except FileNotFoundError:
                return False
            return True
        return recording_store().delete(self._key(name))

    def remove_all(self) -> None:
        if self.directory is not None:
            shutil.rmtree(self.directory, ignore_errors=True)
            return
        store = recording_store()
        for key in list(store.keys(self.prefix + "/")):
            store.delete(key)


def exports_store(directory: Path, prefix: str) -> str:
    """In ``s3`` mode, the finished extraction ``directory`` sent to the store as ``<prefix>/<name>``
    (each file checked there by size), then removed from the disk: its ``export_dir``. In ``local``
    mode the directory itself. StoreUnavailable: the store did not take it (the directory stays)."""
    store = recording_store()
    if store.kind == "local":
        return str(directory)
    for path in sorted(directory.iterdir()):
        key = f"{prefix}/{path.name}"
        store.put_file(key, path)
        if store.size(key) != path.stat().st_size:
            raise StoreUnavailable(f"{key}: the store kept {store.size(key)} bytes of {path.stat().st_size}")
    shutil.rmtree(directory, ignore_errors=True)
    return STORE_PREFIX + prefix
