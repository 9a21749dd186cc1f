"""Replay rules of the PTZ events: the centre's business alone."""

from __future__ import annotations

from realtime.visibility import centre_only, register_replay_rule


def register() -> None:
    register_replay_rule(["ptz.lease", "ptz.position"], centre_only)
