"""Pages of the partners app: signing in and out."""

from __future__ import annotations

from django.contrib.auth.views import LoginView, LogoutView
from django.shortcuts import resolve_url

from partners.selectors import member_of


class HubLoginView(LoginView):
    """``/accounts/login/`` — session login; the centre's staff land on the console."""

    template_name = "partners/login.html"
    redirect_authenticated_user = True

    def get_default_redirect_url(self) -> str:
        # Used when no safe ?next= was given. Partners have no console: the home page.
        member = member_of(self.request.user)
        return resolve_url("console" if member and member.is_centre_staff else "home")


logout = LogoutView.as_view(next_page="login")
