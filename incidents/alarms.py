"""The centre's technical alarms in force, for the operator console's alarm strip.

The apps that raise them (streaming: recorder nodes and unrecorded cameras; recordings: the
object store) sit above incidents in the layers, so they register a source here at start
(``alarm_source_register`` in their ``AppConfig.ready``). Each source returns the alarms in
force as the frames of the events that announced them (``{"type": ..., "data": ...}``), so the
page applies the state at load and the live events with the same code
(static/js/tech-alarms.js); a reload shows what the events showed.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Frame = dict[str, Any]

_sources: list[Callable[[], list[Frame]]] = []


def alarm_source_register(source: Callable[[], list[Frame]]) -> None:
    if source not in _sources:
        _sources.append(source)


def alarms_in_force() -> list[Frame]:
    """Every registered source's alarms in force, in registration order."""
    frames: list[Frame] = []
    for source in _sources:
        frames.extend(source())
    return frames
