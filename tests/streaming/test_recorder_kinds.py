"""``manage.py record`` (every camera, no leases) and ``manage.py record --node`` (leases) never run
together against one database: each would record the cameras the other records. The plain
recorder holds an advisory lock for its life; a node refuses to join while it is held, the plain
recorder refuses to start while a live recorder node runs (streaming.nodes.solo_start)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.utils import timezone

from streaming.models import Node, NodeRole
from streaming.nodes import RoleKindsClash, node_join, node_leave, solo_start

ROOT = Path(__file__).resolve().parents[2]
RECORD = NodeRole.RECORD


def test_a_recorder_node_is_refused_while_a_plain_recorder_runs(area):
    hold = solo_start(RECORD)
    try:
        with pytest.raises(RoleKindsClash) as refused:
            node_join(name="rec-a", role=RECORD)
        said = str(refused.value.detail)
        assert "sans --node" in said and f"processus {os.getpid()}" in said, said
        assert not Node.objects.exists()
        node_join(name="video-a", role=NodeRole.VIDEO)  # live video is not recording
    finally:
        hold.release()
    assert node_join(name="rec-a", role=RECORD).name == "rec-a"


@pytest.mark.django_db(transaction=True)  # the node's join commits, as in its process
def test_a_plain_recorder_is_refused_while_a_recorder_node_is_live_and_starts_once_it_left(area):
    node = node_join(name="rec-a", role=RECORD)
    with pytest.raises(RoleKindsClash) as refused:
        solo_start(RECORD)
    said = str(refused.value.detail)
    assert "nœuds d'enregistrement" in said and "rec-a" in said, said
    node_leave(node)
    solo_start(RECORD).release()  # the refused attempt left no lock behind


def test_two_plain_recorders_are_refused(area):
    hold = solo_start(RECORD)
    try:
        with pytest.raises(RoleKindsClash) as refused:
            solo_start(RECORD)
        assert "en double" in str(refused.value.detail) or "deux fois" in str(refused.value.detail)
    finally:
        hold.release()


# --- Real processes -------------------------------------------------------------------------------


def _env(tmp_path: Path) -> dict[str, str]:
    from tests.realtime.processes import database_url

    return dict(os.environ, DATABASE_URL=database_url(), DJANGO_SETTINGS_MODULE="config.settings",
                LOG_LEVEL="WARNING", PYTHONUNBUFFERED="1", HUB_RECORDINGS_DIR=str(tmp_path / "recordings"),
                HUB_RECORDINGS_STORAGE="local", HUB_NODE_LEASE_SECONDS="3600")


def _record(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "manage.py", "record", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)


@pytest.mark.django_db(transaction=True)
def test_the_two_kinds_of_recorder_process_refuse_each_other(area, tmp_path):
    env = _env(tmp_path)
    log = tmp_path / "plain.log"
    with log.open("wb") as out:
        plain = subprocess.Popen([sys.executable, "manage.py", "record"], cwd=ROOT, env=env, stdout=out,
                                 stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while "recorder started" not in log.read_text(errors="replace"):
            assert plain.poll() is None and time.monotonic() < deadline, log.read_text(errors="replace")
            time.sleep(0.2)

        joined = _record(["--node", "rec-a"], env)

        assert joined.returncode != 0
        assert "Un enregistreur sans --node tourne" in joined.stderr, joined.stderr
        assert "joined" not in joined.stdout
        assert not Node.objects.filter(role=RECORD).exists()
        assert plain.poll() is None  # the plain recorder goes on
    finally:
        plain.terminate()
        plain.wait(30)

    node_join(name="rec-b", role=RECORD, now=timezone.now(), host="rec2", pid=4242)
    started = _record([], env)

    assert started.returncode != 0
    assert "rec-b" in started.stderr and "sans --node" in started.stderr, started.stderr
    assert "recorder started" not in started.stdout
