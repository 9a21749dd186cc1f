"""Agencies, their members and the credentials programs use.

``partners`` depends on no other app of ours (docs/architecture.md): it knows agencies
and people, not incidents nor cameras.
"""

from __future__ import annotations

import hashlib
import secrets

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from partners.choices import CENTRE_ROLES, AgencyKind, Role


class Agency(models.Model):
    """A service linked to the centre: the CSU itself, a police, the gendarmerie, the SDIS, the CRF.

    ``code`` is stable and is what programs and commands name an agency by
    (``csu``, ``pn-montmorency``, ``pm-domont``...).
    """

    code = models.SlugField(_("code"), max_length=64, unique=True)
    kind = models.CharField(_("kind"), max_length=8, choices=AgencyKind.choices)
    name = models.CharField(_("name"), max_length=200)
    # A municipal police serves one commune. Kept as the INSEE code, not a foreign
    # key: partners depends on no other app of ours (docs/architecture.md).
    commune_insee = models.CharField(_("commune (INSEE code)"), max_length=5, blank=True)

    class Meta:
        ordering = ["kind", "code"]
        verbose_name = _("agency")
        verbose_name_plural = _("agencies")
        constraints = [
            models.CheckConstraint(
                condition=~models.Q(kind=AgencyKind.PM) | ~models.Q(commune_insee=""),
                name="pm_agency_has_commune",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class Member(models.Model):
    """A named person of an agency, with one role and, for images, a habilitation."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, verbose_name=_("account"), on_delete=models.CASCADE,
                                related_name="member")
    agency = models.ForeignKey(Agency, verbose_name=_("agency"), on_delete=models.PROTECT,
                               related_name="members")
    role = models.CharField(_("role"), max_length=16, choices=Role.choices)
    habilitation_reference = models.CharField(_("habilitation reference"), max_length=100, blank=True)
    habilitation_authority = models.CharField(_("habilitation authority"), max_length=200, blank=True)
    habilitation_valid_from = models.DateField(_("habilitation valid from"), null=True, blank=True)
    habilitation_valid_until = models.DateField(_("habilitation valid until"), null=True, blank=True)
    totp_secret = models.CharField(_("TOTP secret"), max_length=64, blank=True)

    class Meta:
        ordering = ["agency__code", "user__username"]
        verbose_name = _("member")
        verbose_name_plural = _("members")

    def __str__(self) -> str:
        return f"{self.user.get_username()} ({self.agency.code}, {self.role})"

    @property
    def is_centre_staff(self) -> bool:
        return self.agency.kind == AgencyKind.CSU and self.role in CENTRE_ROLES

    @property
    def is_supervisor(self) -> bool:
        return self.agency.kind == AgencyKind.CSU and self.role in {Role.SUPERVISOR, Role.ADMIN}


class ApiToken(models.Model):
    """A bearer token for programs. Only its SHA-256 is stored; it expires and can be revoked."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("account"), on_delete=models.CASCADE,
                             related_name="api_tokens")
    digest = models.CharField(_("digest (SHA-256)"), max_length=64, unique=True)
    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    expires_at = models.DateTimeField(_("expires at"))
    revoked_at = models.DateTimeField(_("revoked at"), null=True, blank=True)

    class Meta:
        verbose_name = _("API token")
        verbose_name_plural = _("API tokens")

    def __str__(self) -> str:
        return f"token of {self.user_id} until {self.expires_at:%Y-%m-%d %H:%M}"

    @staticmethod
    def digest_of(raw: str) -> str:
        return hashlib.sha256(raw.encode()).hexdigest()

    @staticmethod
    def new_raw() -> str:
        return secrets.token_urlsafe(32)

    def is_usable(self, now=None) -> bool:
        now = now or timezone.now()
        return self.revoked_at is None and self.expires_at > now


class IdempotencyRecord(models.Model):
    """The answer given to a write sent with an ``Idempotency-Key``, kept so that a
    repeat (a tablet resending after a drop) gets the same answer without a second write."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=200)
    request_hash = models.CharField(max_length=64)
    status_code = models.PositiveSmallIntegerField()
    response = models.JSONField()
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        verbose_name = _("idempotency record")
        verbose_name_plural = _("idempotency records")
        constraints = [models.UniqueConstraint(fields=["user", "key"], name="idempotency_key_per_user")]

    def __str__(self) -> str:
        return f"{self.user_id}:{self.key}"


class AuditRecord(models.Model):
    """A line of the access journal: who did what, when, from where, on which object, why.

    Append-only and hash-chained: each record carries the hash of the one before,
    and its own hash covers its fields and that link, so an edited, inserted or
    deleted row breaks the chain (``python manage.py verify_audit`` names the first
    broken record). The database also refuses UPDATE, DELETE and TRUNCATE on this table;
    signed anchors of the head, kept outside the database (``partners.anchor``), catch a
    journal rewritten by someone who switched that off and recomputed the chain.
    """

    at = models.DateTimeField(default=timezone.now)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                              on_delete=models.PROTECT, related_name="+")
    actor_username = models.CharField(max_length=150, blank=True)
    agency_code = models.CharField(max_length=64, blank=True)
    address = models.GenericIPAddressField(null=True, blank=True)
    action = models.CharField(max_length=40, db_index=True)
    object_type = models.CharField(max_length=40, blank=True)
    object_id = models.CharField(max_length=64, blank=True)
    reason = models.CharField(max_length=500, blank=True)
    details = models.JSONField(default=dict, blank=True)
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64, unique=True)

    class Meta:
        ordering = ["id"]
        verbose_name = _("access journal entry")
        verbose_name_plural = _("access journal entries")
        indexes = [models.Index(fields=["at"]), models.Index(fields=["object_type", "object_id"])]

    def __str__(self) -> str:
        return f"#{self.pk} {self.at:%Y-%m-%d %H:%M:%S} {self.actor_username} {self.action}"


class AuditHead(models.Model):
    """The hash of the last record, kept apart: deleting the newest records is detected too."""

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    last_id = models.BigIntegerField(default=0)
    last_hash = models.CharField(max_length=64)

    class Meta:
        verbose_name = _("access journal head")
        verbose_name_plural = _("access journal heads")

    def __str__(self) -> str:
        return f"audit head #{self.last_id}"


class RecoveryCode(models.Model):
    """A one-time code that stands in for the second factor when the phone is lost.
    Only its SHA-256 is stored."""

    member = models.ForeignKey(Member, on_delete=models.CASCADE, related_name="recovery_codes")
    digest = models.CharField(max_length=64)
    used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("recovery code")
        verbose_name_plural = _("recovery codes")

    def __str__(self) -> str:
        return f"recovery code of {self.member_id}{' (used)' if self.used_at else ''}"


class UserSession(models.Model):
    """A signed-in browser session, so that a member can see and end their sessions.

    ``session_key`` is Django's; ending a session deletes Django's row and closes
    the sockets opened with it.
    """

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="hub_sessions")
    session_key = models.CharField(max_length=40, unique=True)
    created_at = models.DateTimeField(default=timezone.now)
    last_seen = models.DateTimeField(default=timezone.now)
    address = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=300, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-last_seen"]
        verbose_name = _("session")
        verbose_name_plural = _("sessions")

    def __str__(self) -> str:
        return f"session of {self.user_id} since {self.created_at:%Y-%m-%d %H:%M}"
