"""The camera registry's admin, sized for the real registry (2,000+ cameras, 400 sites): no page
lists every site or camera in a select (autocomplete or raw ids instead), and lists fetch what
they show in a bounded number of queries."""

from __future__ import annotations

from typing import TYPE_CHECKING, TypedDict

from django import forms
from django.contrib import admin as django_admin
from django.contrib.gis import admin
from django.db.models import Count, Exists, OuterRef, Q
from django.utils import timezone
from django.utils.formats import number_format
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from cameras.choices import Purpose
from cameras.models import Authorisation, Camera, CameraRelocation, PrivacyMask, PtzPreset, Site
from cameras.services import camera_geometry_refresh, validate_stream_uri
from config.errors import DomainError
from geo.admin import HubGISAdmin
from geo.models import Commune
from partners.choices import VIDEO_CAPABLE_KINDS, AgencyKind

if TYPE_CHECKING:
    from django_stubs_ext import WithAnnotations


class _CameraTotal(TypedDict):
    camera_total: int


class _AuthorisedToday(TypedDict):
    authorised_today: bool


def area_text(polygon) -> str:
    if polygon is None:
        return "—"
    # Lambert-93: the official metric projection of metropolitan France.
    area = polygon.transform(2154, clone=True).area
    return _("%(area)s m², computed from the position, heading, angle, range and presets") % {
        "area": number_format(round(area), force_grouping=True)}


def authorisations_in_force(day) -> Q:
    return Q(valid_from__lte=day, valid_until__gte=day)


class PtzPresetInline(admin.TabularInline):
    model = PtzPreset
    exclude = ["fov"]
    extra = 0


class PrivacyMaskInline(admin.TabularInline):
    model = PrivacyMask
    extra = 0
    fields = ["label", "polygon", "preset", "liftable"]

    def get_formset(self, request, obj=None, **kwargs):
        formset = super().get_formset(request, obj, **kwargs)
        # A mask belongs to one of this camera's presets: offer those, not every preset of
        # the registry (thousands, each naming its camera).
        field = formset.form.base_fields.get("preset")
        if isinstance(field, forms.ModelChoiceField):
            field.queryset = PtzPreset.objects.filter(camera=obj).select_related("camera")
        return formset


class CameraAdminForm(forms.ModelForm):
    class Meta:
        model = Camera
        fields = "__all__"  # noqa: DJ007 - the admin's fieldsets decide what is shown

    def clean_stream_uri(self) -> str:
        try:
            return validate_stream_uri(self.cleaned_data.get("stream_uri") or "")
        except DomainError as error:
            raise forms.ValidationError(str(error.detail)) from error


class CommuneFilter(django_admin.SimpleListFilter):
    """By commune, named from their names alone (Django's own filter would load every boundary)."""

    title = _("commune")
    parameter_name = "commune"
    field = "commune_id"

    def lookups(self, request, model_admin):
        return [(str(pk), name) for pk, name in Commune.objects.order_by("name").values_list("pk", "name")]

    def queryset(self, request, queryset):
        value = self.value()
        return queryset.filter(**{self.field: int(value)}) if value and value.isdigit() else queryset


class CameraCommuneFilter(CommuneFilter):
    field = "site__commune_id"


class AuthorisationFilter(django_admin.SimpleListFilter):
    """Whether a prefectoral authorisation lets the camera be viewed today: without one in force
    it may be neither viewed nor shared."""

    title = _("prefectoral authorisation")
    parameter_name = "authorisation"

    def lookups(self, request, model_admin):
        return [("in_force", pgettext_lazy("authorisation filter", "In force")),
                ("expired", pgettext_lazy("authorisation filter", "Expired (none in force)")),
                ("none", pgettext_lazy("authorisation filter", "None"))]

    def queryset(self, request, queryset):
        today = timezone.localdate()
        covering = Authorisation.objects.filter(cameras=OuterRef("pk"))
        in_force = Exists(covering.filter(authorisations_in_force(today)))
        if self.value() == "in_force":
            return queryset.filter(in_force)
        if self.value() == "expired":
            return queryset.filter(~in_force, Exists(covering.filter(valid_until__lt=today)))
        if self.value() == "none":
            return queryset.filter(~Exists(covering))
        return queryset


@admin.register(Site)
class SiteAdmin(HubGISAdmin):
    list_display = ["code", "name", "commune", "address", "camera_count"]
    list_filter = [CommuneFilter, "nomadic_pool"]
    list_select_related = ["commune"]
    search_fields = ["code", "name", "address"]

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(camera_total=Count("cameras"))

    @admin.display(description=_("cameras"), ordering="camera_total")
    def camera_count(self, site: WithAnnotations[Site, _CameraTotal]) -> int:
        return site.camera_total


@admin.register(Camera)
class CameraAdmin(HubGISAdmin):
    form = CameraAdminForm
    list_display = ["code", "name", "kind", "status", "site", "commune", "authorised", "heading", "angle",
                    "range_m"]
    list_filter = [CameraCommuneFilter, "kind", "status", AuthorisationFilter]
    list_select_related = ["site__commune"]
    search_fields = ["code", "name", "site__code", "site__name"]
    autocomplete_fields = ["site"]
    exclude = ["fov", "coverage"]
    readonly_fields = ["fov_area", "coverage_area"]
    inlines = [PtzPresetInline, PrivacyMaskInline]

    def get_queryset(self, request):
        in_force = Authorisation.objects.filter(authorisations_in_force(timezone.localdate()),
                                                cameras=OuterRef("pk"))
        return super().get_queryset(request).annotate(authorised_today=Exists(in_force))

    @admin.display(description=_("commune"), ordering="site__commune__name")
    def commune(self, camera: Camera) -> str:
        return camera.site.commune.name

    @admin.display(boolean=True, description=_("authorisation in force"), ordering="authorised_today")
    def authorised(self, camera: WithAnnotations[Camera, _AuthorisedToday]) -> bool:
        return camera.authorised_today

    # The geometries are derived on save; their outlines as text would be hundreds of numbers.
    @admin.display(description=_("field of view"))
    def fov_area(self, camera: Camera) -> str:
        return area_text(camera.fov)

    @admin.display(description=_("coverage"))
    def coverage_area(self, camera: Camera) -> str:
        return area_text(camera.coverage)

    def save_related(self, request, form, formsets, change) -> None:
        # Presets change the coverage: recompute once everything is saved.
        super().save_related(request, form, formsets, change)
        camera_geometry_refresh(camera=form.instance)

    def save_model(self, request, obj, form, change) -> None:
        camera_geometry_refresh(camera=obj, save=False)
        super().save_model(request, obj, form, change)


@admin.register(PrivacyMask)
class PrivacyMaskAdmin(admin.ModelAdmin):
    list_display = ["camera", "label", "preset", "liftable", "created_at"]
    list_filter = ["liftable"]
    list_select_related = ["camera", "preset__camera"]
    search_fields = ["camera__code", "label"]
    autocomplete_fields = ["camera"]
    raw_id_fields = ["preset"]
    readonly_fields = ["created_by"]

    def save_model(self, request, obj, form, change) -> None:
        if not change:
            obj.created_by = request.user
        super().save_model(request, obj, form, change)


class AuthorisationForm(forms.ModelForm):
    """Purposes and recipients ticked from their lists rather than typed as codes."""

    purposes = forms.TypedMultipleChoiceField(
        label=_("purposes"), choices=Purpose.choices, widget=forms.CheckboxSelectMultiple)
    recipients = forms.TypedMultipleChoiceField(
        label=_("recipients of images"), required=False, widget=forms.CheckboxSelectMultiple,
        # The Croix-Rouge receives alerts, never images (CSI, L252-3).
        choices=[(value, label) for value, label in AgencyKind.choices if value in VIDEO_CAPABLE_KINDS])

    class Meta:
        model = Authorisation
        fields = "__all__"  # noqa: DJ007 - the admin decides what is shown


@admin.register(Authorisation)
class AuthorisationAdmin(admin.ModelAdmin):
    form = AuthorisationForm
    list_display = ["order_number", "issued_by", "valid_from", "valid_until", "in_force", "camera_count",
                    "retention_days"]
    search_fields = ["order_number", "issued_by"]
    # An authorisation covers hundreds of cameras: searched as one types, never a list of all.
    autocomplete_fields = ["cameras"]

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(camera_total=Count("cameras"))

    @admin.display(description=_("cameras"), ordering="camera_total")
    def camera_count(self, authorisation: WithAnnotations[Authorisation, _CameraTotal]) -> int:
        return authorisation.camera_total

    @admin.display(boolean=True, description=_("in force"))
    def in_force(self, authorisation: Authorisation) -> bool:
        return authorisation.is_valid_on(timezone.localdate())


@admin.register(CameraRelocation)
class CameraRelocationAdmin(HubGISAdmin):
    """The history of nomadic cameras' moves, written by the relocation service: read only."""

    list_display = ["camera", "moved_at", "moved_by", "reason"]
    list_select_related = ["camera", "moved_by"]
    search_fields = ["camera__code", "reason"]
    readonly_fields = ["camera", "from_location", "to_location", "from_heading", "to_heading",
                       "moved_at", "moved_by", "reason"]

    def has_add_permission(self, request) -> bool:
        return False
