from django.contrib import admin

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
    search_fields = ["user__username", "habilitation_reference"]
    exclude = ["totp_secret"]


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    list_display = ["user", "created_at", "expires_at", "revoked_at"]
    readonly_fields = ["user", "digest", "created_at", "expires_at"]
