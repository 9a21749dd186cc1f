from typing import cast

from django import forms
from django.contrib import admin as django_admin
from django.contrib.admin.views.autocomplete import AutocompleteJsonView
from django.contrib.admin.widgets import AutocompleteSelect
from django.contrib.gis import admin
from django.core.exceptions import PermissionDenied
from django.db.models import Model
from django.http import HttpRequest
from django.urls import path, reverse
from django.utils.translation import gettext_lazy as _

from config.errors import DomainError
from geo.admin import HubGISAdmin
from incidents.models import Incident, JournalEntry, Nature, Unit
from incidents.selectors.units import may_manage_units, unit_drivers
from incidents.services.units import KEEP, unit_changes_check, unit_create, unit_update
from partners.choices import AgencyKind
from partners.models import Agency, Member
from partners.selectors import member_of


@admin.register(Nature)
class NatureAdmin(admin.ModelAdmin):
    list_display = ["code", "label", "active"]
    list_editable = ["label", "active"]


class JournalInline(admin.TabularInline):
    model = JournalEntry
    fields = readonly_fields = ("at", "author", "kind", "text", "corrects")
    extra = 0
    can_delete = False

    def get_queryset(self, request):
        # A correction names the entry it corrects, which names its incident.
        return super().get_queryset(request).select_related("author", "corrects__incident")

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Incident)
class IncidentAdmin(HubGISAdmin):
    """Read-mostly: incidents are written by the console and the API, through services."""

    list_display = ["reference", "nature", "priority", "status", "commune", "created_at"]
    list_filter = ["status", "nature", "commune"]
    list_select_related = ["nature", "commune"]
    search_fields = ["reference", "description", "address"]
    readonly_fields = ["reference", "nature", "priority", "status", "location", "address", "commune",
                       "description", "reported_by", "cameras", "shared_with", "created_at", "version"]
    inlines = [JournalInline]

    def has_add_permission(self, request) -> bool:
        return False


# --- Field units -------------------------------------------------------------------------


class UnitDriverSelect(AutocompleteSelect):
    """The member who gets the unit's tablet, searched as one types: never a select of every
    account. It asks ``UnitDriverChoices`` with the agency chosen in the form
    (static/js/admin-unit.js), which offers only that agency's free field-unit members."""

    def get_url(self) -> str:
        return reverse(f"{self.admin_site.name}:incidents_unit_drivers")

    def build_attrs(self, base_attrs, extra_attrs=None):
        attrs = super().build_attrs(base_attrs, extra_attrs)
        # Not "admin-autocomplete": Django's script would start it without the agency.
        attrs["class"] = attrs["class"].replace("admin-autocomplete", "unit-driver-autocomplete")
        attrs["data-width"] = "24em"  # empty, select2 would shrink it to its arrow
        return attrs

    @property
    def media(self):
        # Named with the scripts it needs, so that the merged media keep it after them.
        return super().media + forms.Media(
            js=["admin/js/jquery.init.js", "admin/js/autocomplete.js", "js/admin-unit.js"])


class UnitDriverChoices(AutocompleteJsonView):
    """``/admin/incidents/unit/drivers/?agency=<id>&unit=<id>&term=`` — the field-unit members of
    that agency who drive no other unit in service, for ``UnitDriverSelect``."""

    def has_perm(self, request: HttpRequest, obj=None) -> bool:
        return may_manage_units(member_of(request.user))

    def get_queryset(self):
        def number(name: str) -> int:
            raw = self.request.GET.get(name, "")
            return int(raw) if raw.isdigit() else 0

        agency = Agency.objects.filter(pk=number("agency")).exclude(kind=AgencyKind.CSU).first()
        if agency is None:
            return Member.objects.none()
        members = unit_drivers(agency, unit=Unit.objects.filter(pk=number("unit")).first())
        members, distinct = self.model_admin.get_search_results(self.request, members, self.term)
        return members.distinct() if distinct else members

    def serialize_result(self, obj: Model, to_field_name: str) -> dict[str, str]:
        # get_queryset gives members only.
        return {"id": str(getattr(obj, to_field_name)),
                "text": driver_label(obj) if isinstance(obj, Member) else str(obj)}


def driver_label(member: Member) -> str:
    """How the admin names a member who may drive a unit: the username (an account's role and
    agency go without saying here)."""
    return member.user.get_username()


class DriverChoiceField(forms.ModelChoiceField):
    """The member field of a unit: each member named by ``driver_label``."""

    def label_from_instance(self, obj: Model) -> str:
        return driver_label(obj) if isinstance(obj, Member) else str(obj)


class UnitForm(forms.ModelForm):
    """Checks what the services check (``unit_changes_check``), so that a refusal shows on its
    field; the admin then writes through ``unit_create`` / ``unit_update``."""

    retired = forms.BooleanField(
        label=_("Retired"), required=False,
        help_text=_("A retired unit keeps its history (radio, positions, alerts) but leaves the lists, "
                    "can no longer be engaged nor called, and its tablet is taken back. Untick to "
                    "reinstate it."))

    class Meta:
        model = Unit
        fields = ["callsign", "agency", "member"]
        field_classes = {"member": DriverChoiceField}
        help_texts = {
            "callsign": _("The name on the air, e.g. PS MONTMORENCY 1 (stored in capitals)."),
            "member": _("A field-unit account of the same agency that drives no other unit. "
                        "Choose the agency first; leave empty to take the tablet back."),
        }

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        # The form fields of the model's foreign keys (typed as plain fields by the stubs).
        agency = cast(forms.ModelChoiceField, self.fields["agency"])
        agency.queryset = Agency.objects.exclude(kind=AgencyKind.CSU).order_by("kind", "name")
        member = self.fields["member"]
        # The admin wraps the widget (add/edit links): the select is the inner one.
        select = member.widget.widget if hasattr(member.widget, "widget") else member.widget
        select.attrs["data-unit"] = self.instance.pk or ""
        if self.instance.pk:
            self.fields["retired"].initial = self.instance.retired
        else:
            del self.fields["retired"]  # a unit is created in service

    def clean(self) -> dict:
        super().clean()
        data = self.cleaned_data
        if self.errors:
            return data
        try:
            self.changes = unit_changes_check(
                unit=self.instance if self.instance.pk else None, callsign=data["callsign"],
                agency=data["agency"], member=data.get("member"),
                retired=data.get("retired", KEEP) if self.instance.pk else KEEP)
        except DomainError as exc:
            self.add_error(exc.field if exc.field in self.fields else None, str(exc.detail))
        return data

    def validate_unique(self) -> None:
        # unit_changes_check says it better (and knows about retired units).
        pass


class RetiredFilter(django_admin.SimpleListFilter):
    title = _("activity")
    parameter_name = "retired"

    def lookups(self, request, model_admin):
        return [("no", _("In service")), ("yes", _("Retired"))]

    def queryset(self, request, queryset):
        if self.value() in {"no", "yes"}:
            return queryset.filter(retired_at__isnull=self.value() == "no")
        return queryset


class AgencyKindFilter(django_admin.SimpleListFilter):
    title = _("kind of agency")
    parameter_name = "kind"

    def lookups(self, request, model_admin):
        return [(value, label) for value, label in AgencyKind.choices if value != AgencyKind.CSU]

    def queryset(self, request, queryset):
        return queryset.filter(agency__kind=self.value()) if self.value() else queryset


@admin.register(Unit)
class UnitAdmin(admin.ModelAdmin):
    """Field units for the centre's supervisors and administrators: created, renamed, handed to a
    member (the tablet), retired or reinstated, through the same services as the API."""

    form = UnitForm
    list_display = ["callsign", "agency", "driver", "status", "in_service"]
    list_filter = [RetiredFilter, "status", AgencyKindFilter]
    list_select_related = ["agency", "member__user"]
    search_fields = ["callsign", "agency__name", "agency__code", "member__user__username"]
    readonly_fields = ["status", "incident", "position_at", "retired_at", "updated_at"]
    fieldsets = [
        (None, {"fields": ["callsign", "agency", "member", "retired"]}),
        (_("State"), {"fields": ["status", "incident", "position_at", "retired_at", "updated_at"]}),
    ]

    @admin.display(description=_("member (tablet)"), ordering="member__user__username")
    def driver(self, unit: Unit) -> str:
        return driver_label(unit.member) if unit.member is not None else "—"

    @admin.display(boolean=True, description=_("In service"), ordering="-retired_at")
    def in_service(self, unit: Unit) -> bool:
        return not unit.retired

    def get_fieldsets(self, request, obj=None):
        if obj is None:
            return [(None, {"fields": ["callsign", "agency", "member"]})]
        return super().get_fieldsets(request, obj)

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "member":
            kwargs["widget"] = UnitDriverSelect(db_field, self.admin_site)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def get_urls(self):
        drivers = self.admin_site.admin_view(UnitDriverChoices.as_view(admin_site=self.admin_site))
        return [path("drivers/", drivers, name="incidents_unit_drivers"), *super().get_urls()]

    # The rule is the services' (may_manage_units), not the Django permissions.
    def _may(self, request: HttpRequest) -> bool:
        return may_manage_units(member_of(request.user))

    def has_view_permission(self, request, obj=None) -> bool:
        return self._may(request)

    def has_add_permission(self, request) -> bool:
        return self._may(request)

    def has_change_permission(self, request, obj=None) -> bool:
        return self._may(request)

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # retire it: its history stays

    def save_model(self, request, obj: Unit, form: UnitForm, change: bool) -> None:
        by = member_of(request.user)
        if by is None:  # never the shell's rights from a web request
            raise PermissionDenied
        data = form.cleaned_data
        if change:
            saved = unit_update(by=by, unit=obj, callsign=data["callsign"], agency=data["agency"],
                                member=data.get("member"), retired=data.get("retired", KEEP))
        else:
            saved = unit_create(by=by, callsign=data["callsign"], agency=data["agency"],
                                member=data.get("member"))
        obj.pk = saved.pk
        obj.refresh_from_db()
