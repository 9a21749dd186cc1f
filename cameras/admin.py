from django import forms
from django.contrib.gis import admin

from cameras.models import Authorisation, Camera, CameraRelocation, PrivacyMask, PtzPreset, Site
from cameras.services import camera_geometry_refresh, validate_stream_uri
from config.errors import DomainError
from geo.admin import HubGISAdmin


@admin.register(Site)
class SiteAdmin(HubGISAdmin):
    list_display = ["code", "name", "commune", "address"]
    list_filter = ["commune"]
    search_fields = ["code", "name", "address"]


class PtzPresetInline(admin.TabularInline):
    model = PtzPreset
    exclude = ["fov"]
    extra = 0


class PrivacyMaskInline(admin.TabularInline):
    model = PrivacyMask
    extra = 0
    fields = ["label", "polygon", "preset", "liftable"]


class CameraAdminForm(forms.ModelForm):
    class Meta:
        model = Camera
        fields = "__all__"  # noqa: DJ007 - the admin's fieldsets decide what is shown

    def clean_stream_uri(self) -> str:
        try:
            return validate_stream_uri(self.cleaned_data.get("stream_uri") or "")
        except DomainError as error:
            raise forms.ValidationError(str(error.detail)) from error


@admin.register(Camera)
class CameraAdmin(HubGISAdmin):
    form = CameraAdminForm
    list_display = ["code", "name", "kind", "status", "site", "heading", "angle", "range_m"]
    list_filter = ["kind", "status", "site__commune"]
    search_fields = ["code", "name", "site__code"]
    readonly_fields = ["fov", "coverage"]
    inlines = [PtzPresetInline, PrivacyMaskInline]

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
    search_fields = ["camera__code", "label"]


@admin.register(Authorisation)
class AuthorisationAdmin(admin.ModelAdmin):
    list_display = ["order_number", "valid_from", "valid_until", "retention_days"]
    search_fields = ["order_number"]
    filter_horizontal = ["cameras"]


@admin.register(CameraRelocation)
class CameraRelocationAdmin(HubGISAdmin):
    list_display = ["camera", "moved_at", "moved_by", "reason"]
    readonly_fields = ["camera", "from_location", "to_location", "from_heading", "to_heading",
                       "moved_at", "moved_by", "reason"]
