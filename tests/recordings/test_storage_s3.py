"""The recordings' store on a real S3 gateway (SeaweedFS on loopback): objects, ranged reads,
legal holds (S3 Object Lock) that even the hub's keys cannot break."""

from __future__ import annotations

import pytest

from recordings.storage import LocalStore, ObjectHeld, S3Store, StoreUnavailable, recording_store


def test_put_read_range_list_delete(s3_storage, tmp_path):
    store = recording_store()
    assert isinstance(store, S3Store)
    store.check()
    source = tmp_path / "a.bin"
    source.write_bytes(bytes(range(256)) * 40)
    store.put_file("CAM/20261207/a.mp4", source)
    assert store.exists("CAM/20261207/a.mp4")
    assert store.size("CAM/20261207/a.mp4") == 10240
    assert store.read_range("CAM/20261207/a.mp4", 10, 5) == bytes([10, 11, 12, 13, 14])
    reader = store.open("CAM/20261207/a.mp4")
    reader.seek(-3, 2)
    assert reader.read() == bytes([253, 254, 255])
    assert list(store.keys("CAM/")) == ["CAM/20261207/a.mp4"]
    assert store.delete("CAM/20261207/a.mp4") is True
    assert not store.exists("CAM/20261207/a.mp4")
    assert list(store.keys("CAM/")) == []
    assert store.delete("CAM/20261207/a.mp4") is False
    with pytest.raises(FileNotFoundError):
        store.size("CAM/20261207/a.mp4")


def test_ranged_reader_fetches_only_what_is_read(s3_storage, tmp_path, monkeypatch):
    monkeypatch.setattr("recordings.storage.READ_BLOCK_BYTES", 4096)
    store = recording_store()
    source = tmp_path / "big.bin"
    source.write_bytes(b"x" * 1_000_000)
    store.put_file("big.bin", source)
    reader = store.open("big.bin")
    reader.seek(500_000)
    assert reader.read(10) == b"x" * 10
    assert reader.fetched == 4096  # one block, not the megabyte


def test_large_file_is_sent_in_parts(s3_storage, tmp_path, monkeypatch):
    monkeypatch.setattr("recordings.storage.MULTIPART_BYTES", 5 * 1024 * 1024)
    store = recording_store()
    source = tmp_path / "large.bin"
    payload = bytes(range(256)) * (12 * 1024 * 1024 // 256)
    source.write_bytes(payload)
    store.put_file("large.bin", source)
    assert store.size("large.bin") == len(payload)
    assert store.read_range("large.bin", 6 * 1024 * 1024, 256) == bytes(range(256))
    assert "-" in store.client.head_object(Bucket=store.bucket, Key="large.bin")["ETag"]  # multipart


def test_legal_hold_blocks_delete_even_with_the_hubs_keys(s3_storage, tmp_path):
    store = recording_store()
    source = tmp_path / "held.mp4"
    source.write_bytes(b"evidence")
    store.put_file("held.mp4", source)
    store.hold_set("held.mp4", held=True)
    assert store.held("held.mp4")
    with pytest.raises(ObjectHeld):
        store.delete("held.mp4")
    # Not even a raw DELETE of the version with the hub's credentials.
    version = store.client.head_object(Bucket=store.bucket, Key="held.mp4")["VersionId"]
    with pytest.raises(Exception, match="AccessDenied"):
        store.client.delete_object(Bucket=store.bucket, Key="held.mp4", VersionId=version)
    assert store.read_range("held.mp4", 0, 100) == b"evidence"
    store.hold_set("held.mp4", held=False)
    assert store.delete("held.mp4") is True
    assert not store.exists("held.mp4")


def test_a_store_down_is_told(settings, storage):
    settings.HUB_RECORDINGS_STORAGE = "s3"
    settings.HUB_S3_ENDPOINT = "http://127.0.0.1:9"  # discard: nothing answers S3 there
    settings.HUB_S3_ACCESS_KEY, settings.HUB_S3_SECRET_KEY = "k", "s"
    store = recording_store()
    with pytest.raises(StoreUnavailable):
        store.check()
    source = storage / "x.bin"
    source.write_bytes(b"x")
    with pytest.raises(StoreUnavailable):
        store.put_file("x.bin", source)


def test_local_store(storage, tmp_path):
    store = recording_store()
    assert isinstance(store, LocalStore)
    source = tmp_path / "a.bin"
    source.write_bytes(b"0123456789")
    store.put_file("CAM/a.mp4", source)
    assert store.read_range("CAM/a.mp4", 2, 3) == b"234"
    assert store.size("CAM/a.mp4") == 10 and list(store.keys()) == ["CAM/a.mp4"]
    assert store.delete("CAM/a.mp4") and not store.exists("CAM/a.mp4")
