"""Fixtures of the partners tests."""

from __future__ import annotations

import pytest


@pytest.fixture
def anchors(settings, tmp_path):
    """The access journal's anchor file and anchoring key in a temporary directory, no syslog
    copy and no append-only flag (a test that wants them says so); returns the file's path."""
    settings.HUB_AUDIT_ANCHOR_FILE = tmp_path / "audit" / "anchors.jsonl"
    settings.HUB_AUDIT_ANCHOR_KEY_PATH = tmp_path / "keys" / "audit-anchor.pem"
    settings.HUB_AUDIT_ANCHOR_APPEND_ONLY_FLAG = False
    settings.HUB_AUDIT_SYSLOG = ""
    return settings.HUB_AUDIT_ANCHOR_FILE
