from django.apps import AppConfig
from django.utils.translation import pgettext_lazy


class PartnersConfig(AppConfig):
    name = "partners"
    verbose_name = pgettext_lazy("app", "Partners")

    def ready(self) -> None:
        # Registers the bearer scheme with drf-spectacular (the OpenAPI schema).
        from django.db.models.signals import post_migrate

        from partners import schema  # noqa: F401
        from partners.groups import ensure_supervisor_group

        post_migrate.connect(ensure_supervisor_group, dispatch_uid="partners-supervisor-group")
        _connect_token_cache()


def _connect_token_cache() -> None:
    """Whatever may change what a bearer token gives invalidates the cached token lookups
    (``partners.selectors.user_for_token``); ``api_token_revoke`` does it itself (an UPDATE)."""
    from django.contrib.auth import get_user_model
    from django.db.models.signals import post_delete, post_save

    from partners.models import ApiToken, Member
    from partners.selectors import token_cache_invalidate

    def changed(sender, update_fields=None, **kwargs) -> None:
        if update_fields is not None and set(update_fields) <= {"last_login"}:
            return  # a sign-in changes nothing a token gives
        token_cache_invalidate()

    def created_or_changed(sender, created: bool = False, **kwargs) -> None:
        if not created:  # a new token or account is not in the cache yet
            changed(sender, **kwargs)

    for model in (get_user_model(), ApiToken):
        name = model.__name__
        post_save.connect(created_or_changed, sender=model, dispatch_uid=f"token-cache-{name}-saved",
                          weak=False)
        post_delete.connect(changed, sender=model, dispatch_uid=f"token-cache-{name}-deleted", weak=False)
    post_save.connect(changed, sender=Member, dispatch_uid="token-cache-member-saved", weak=False)
    post_delete.connect(changed, sender=Member, dispatch_uid="token-cache-member-deleted", weak=False)
