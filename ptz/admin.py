from django import forms
from django.contrib import admin

from ptz.models import PtzEndpoint, PtzLease, PtzPosition


class PtzEndpointForm(forms.ModelForm):
    """The password is written, never shown: left empty, the stored one is kept."""

    password = forms.CharField(required=False, widget=forms.PasswordInput(render_value=False),
                               label="Mot de passe ONVIF")

    class Meta:
        model = PtzEndpoint
        fields = ["camera", "host", "port", "username", "pan_zero_heading", "pan_degrees", "zoom_wide_m",
                  "zoom_full_m", "preset_tokens", "home_preset"]

    def save(self, commit: bool = True):
        endpoint = super().save(commit=False)
        if self.cleaned_data.get("password"):
            endpoint.set_password(self.cleaned_data["password"])
        if commit:
            endpoint.save()
        return endpoint


@admin.register(PtzEndpoint)
class PtzEndpointAdmin(admin.ModelAdmin):
    form = PtzEndpointForm
    list_display = ["camera", "host", "port", "username", "updated_at"]
    search_fields = ["camera__code", "host"]


@admin.register(PtzLease)
class PtzLeaseAdmin(admin.ModelAdmin):
    list_display = ["camera", "holder", "taken_at", "last_command_at", "ended_at", "end_reason"]
    list_filter = ["end_reason"]


admin.site.register(PtzPosition)
