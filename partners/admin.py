from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin
from django.utils.translation import gettext_lazy as _

from partners.audit import Action, audit
from partners.auth import client_address
from partners.choices import Role
from partners.models import Agency, ApiToken, Member


@admin.register(Agency)
class AgencyAdmin(admin.ModelAdmin):
    list_display = ["code", "kind", "name", "commune_insee"]
    list_filter = ["kind"]
    search_fields = ["code", "name"]


@admin.register(Member)
class MemberAdmin(admin.ModelAdmin):
    list_display = ["user", "agency", "role", "habilitation_reference", "habilitation_valid_until"]
    list_filter = ["role", "agency__kind"]
    list_select_related = ["user", "agency"]
    search_fields = ["user__username", "habilitation_reference"]
    # Accounts are searched as one types, not listed in a select.
    autocomplete_fields = ["user"]
    exclude = ["totp_secret"]

    def formfield_for_choice_field(self, db_field, request, **kwargs):
        # The admin role makes a superuser: only a superuser may give it.
        if db_field.name == "role" and not request.user.is_superuser:
            kwargs["choices"] = [(v, label) for v, label in Role.choices if v != Role.ADMIN]
        return super().formfield_for_choice_field(db_field, request, **kwargs)

    def save_model(self, request, obj, form, change) -> None:
        super().save_model(request, obj, form, change)
        audit(action=Action.RIGHTS_CHANGED, actor=request.user, address=client_address(request), obj=obj,
              details={"member": obj.user.get_username(), "role": obj.role, "agency": obj.agency.code,
                       "habilitation": obj.habilitation_reference,
                       "habilitation_until": str(obj.habilitation_valid_until or ""),
                       "changed": form.changed_data})


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    list_display = ["user", "created_at", "expires_at", "revoked_at"]
    list_select_related = ["user"]
    readonly_fields = ["user", "digest", "created_at", "expires_at"]


# The admin is the hub's, not Django's: its header says so.
admin.site.site_header = _("CSUi Plaine Vallée — administration")
admin.site.site_title = _("CSUi administration")
admin.site.index_title = _("Registers and accounts")

User = get_user_model()
admin.site.unregister(User)


@admin.register(User)
class HubUserAdmin(UserAdmin):
    """Supervisors manage accounts (the ``Superviseurs`` group), but the superuser flag and
    individual permissions stay with the administrators: a supervisor must not be able to
    raise their own rights, or anyone's, past what the roles give."""

    def get_readonly_fields(self, request, obj=None):
        fields = list(super().get_readonly_fields(request, obj))
        if not request.user.is_superuser:
            fields += ["is_superuser", "user_permissions"]
        return fields

    def save_model(self, request, obj, form, change) -> None:
        super().save_model(request, obj, form, change)
        if {"is_active", "is_staff", "is_superuser", "groups", "user_permissions"} & set(form.changed_data):
            audit(action=Action.RIGHTS_CHANGED, actor=request.user, address=client_address(request),
                  obj=obj, details={"account": obj.get_username(), "is_active": obj.is_active,
                                    "changed": form.changed_data})
