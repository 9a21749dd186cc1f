"""The base of every event schema. Each app declares its own event types in its
``events.py`` as subclasses; the registry lets tests and docs list them all."""

from __future__ import annotations

import datetime as dt
from typing import ClassVar, overload

from django.utils import timezone
from pydantic import BaseModel, ConfigDict

REGISTRY: dict[str, type[EventSchema]] = {}


@overload
def local_iso(value: dt.datetime) -> str: ...
@overload
def local_iso(value: dt.datetime | None) -> str | None: ...
def local_iso(value: dt.datetime | None) -> str | None:
    """A time of an object as the hub writes it everywhere, REST and events alike: local time with
    its offset (``2026-11-26T22:14:03.120512+01:00``), so that the same instant is the same string
    on both paths and a page can compare what it holds with what it receives."""
    return None if value is None else timezone.localtime(value).isoformat()


class EventSchema(BaseModel):
    """A typed event. ``type`` is its wire name (``incident.created``...); unknown
    fields are refused so that a schema and its producers cannot drift apart."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    type: ClassVar[str]

    def __init_subclass__(cls, **kwargs) -> None:
        super().__init_subclass__(**kwargs)
        event_type = cls.__dict__.get("type")
        if event_type:
            if event_type in REGISTRY and REGISTRY[event_type].__qualname__ != cls.__qualname__:
                raise TypeError(f"Event type {event_type!r} is declared twice")
            REGISTRY[event_type] = cls


class Resync(BaseModel):
    """Sent instead of a replay when the client's last id is older than the outbox keeps."""

    type: ClassVar[str] = "resync"
