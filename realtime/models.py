"""The event outbox: every domain event, written in the transaction of the change it reports."""

from __future__ import annotations

from django.contrib.postgres.fields import ArrayField
from django.contrib.postgres.indexes import GinIndex
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class Event(models.Model):
    """One domain event. ``id`` is strictly increasing in commit order (see
    :func:`realtime.services.publish`), which is what lets a client resume from
    the last id it saw. ``audience`` holds the channel-group names that may see it.
    """

    id = models.BigAutoField(primary_key=True)
    type = models.CharField(_("type"), max_length=64)
    data = models.JSONField(_("data"))
    audience = ArrayField(models.CharField(max_length=80), verbose_name=_("audience"))
    at = models.DateTimeField(_("at"), default=timezone.now, db_index=True)

    class Meta:
        verbose_name = _("event")
        verbose_name_plural = _("events")
        indexes = [GinIndex(fields=["audience"], name="realtime_event_audience_gin")]

    def __str__(self) -> str:
        return f"#{self.id} {self.type}"

    def as_message(self) -> dict:
        """The frame a client receives: ``{"id", "type", "at", "data"}``."""
        return {"id": self.id, "type": self.type, "at": self.at.isoformat(), "data": self.data}


class RelayState(models.Model):
    """Where the relay stands: the last event id handed to the channel layer, and the
    last id deleted by retention (a client resuming from before it must resync).

    A single row (pk=1); the per-group rows of :class:`GroupCursor` give each
    message the id of the previous event of its group, so a consumer can tell a
    message it missed.
    """

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    published_through = models.BigIntegerField(default=0)
    purged_through = models.BigIntegerField(default=0)

    class Meta:
        verbose_name = _("relay state")
        verbose_name_plural = _("relay states")

    def __str__(self) -> str:
        return f"relayed through #{self.published_through}, purged through #{self.purged_through}"


class GroupCursor(models.Model):
    """The id of the last event relayed to one channel group."""

    group = models.CharField(max_length=80, primary_key=True)
    last_id = models.BigIntegerField()

    class Meta:
        verbose_name = _("group cursor")
        verbose_name_plural = _("group cursors")

    def __str__(self) -> str:
        return f"{self.group} @ #{self.last_id}"
