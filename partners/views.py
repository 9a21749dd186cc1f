"""Pages of the partners app: signing in (password, then the second factor), enrolling an
authenticator app, one's sessions, signing out everywhere."""

from __future__ import annotations

import time

import pyotp
import segno
from django import forms
from django.conf import settings
from django.contrib.auth import get_user_model, login, logout
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render, resolve_url
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.module_loading import import_string
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from config.errors import DomainError
from partners import auth
from partners.audit import Action
from partners.selectors import member_of, signed_in

PENDING = "hub_pending_login"
PENDING_SECONDS = 300
BACKEND = "django.contrib.auth.backends.ModelBackend"


class PasswordForm(forms.Form):
    username = forms.CharField(max_length=150)
    password = forms.CharField(max_length=256, strip=False)


class CodeForm(forms.Form):
    otp = forms.CharField(max_length=32)


def _safe_next(request: HttpRequest, value: str | None) -> str | None:
    if value and url_has_allowed_host_and_scheme(value, allowed_hosts={request.get_host()},
                                                 require_https=request.is_secure()):
        return value
    return None


def _landing(request: HttpRequest) -> str:
    """Where a member lands after signing in: their desk, straight. Which page that is, the
    project's list of pages knows (``HUB_LANDING``, a dotted path to ``f(request) -> url``);
    partners knows none of the other apps' pages."""
    return import_string(settings.HUB_LANDING)(request)


def _finish(request: HttpRequest, user, next_url: str | None) -> HttpResponse:
    """The second factor (if any) is proven: open the session now, never before."""
    request.session.pop(PENDING, None)
    login(request, user, backend=BACKEND)
    auth.session_register(request=request, user=user)
    return HttpResponseRedirect(next_url or _landing(request))


def _pending_user(request: HttpRequest):
    """The user whose password was checked a moment ago, waiting for the second step."""
    pending = request.session.get(PENDING)
    if not pending or time.time() - pending["at"] > PENDING_SECONDS:
        request.session.pop(PENDING, None)
        return None, None
    user = get_user_model().objects.filter(pk=pending["user"], is_active=True).first()
    return user, pending


def login_view(request: HttpRequest) -> HttpResponse:
    """``/accounts/login/`` — step one: username and password."""
    next_url = _safe_next(request, request.POST.get("next") or request.GET.get("next"))
    if request.user.is_authenticated:
        return HttpResponseRedirect(next_url or _landing(request))
    form = PasswordForm(request.POST or None)
    error = None
    if request.method == "POST" and form.is_valid():
        try:
            user, needs_otp = auth.credentials_check(
                request=request, username=form.cleaned_data["username"],
                password=form.cleaned_data["password"], require_otp=False)
        except DomainError as exc:
            error = _("Too many attempts: try again later.") if isinstance(exc, auth.LoginLocked) \
                else _("Wrong username or password.")
        else:
            if not needs_otp:
                return _finish(request, user, next_url)
            request.session.cycle_key()
            request.session[PENDING] = {"user": user.pk, "at": time.time(), "next": next_url}
            member = member_of(user)
            return redirect("login-enrol" if member and not member.totp_secret else "login-otp")
    return render(request, "partners/login.html", {"form": form, "error": error, "next": next_url or ""},
                  status=401 if error else 200)


def login_otp_view(request: HttpRequest) -> HttpResponse:
    """``/accounts/login/code/`` — step two: the code of the authenticator app (or a recovery code)."""
    user, pending = _pending_user(request)
    if user is None:
        return redirect("login")
    form = CodeForm(request.POST or None)
    error = None
    if request.method == "POST" and form.is_valid():
        try:
            auth.second_step_check(request=request, user=user, otp=form.cleaned_data["otp"])
        except auth.LoginLocked:
            request.session.pop(PENDING, None)
            error = _("Too many attempts: try again later.")
        except DomainError:
            error = _("Wrong, expired or already used code.")
        else:
            return _finish(request, user, pending.get("next"))
    return render(request, "partners/login_otp.html", {"form": form, "error": error, "who": user},
                  status=401 if error else 200)


def login_enrol_view(request: HttpRequest) -> HttpResponse:
    """``/accounts/login/enrol/`` — first sign-in of an account that needs a second factor:
    bind an authenticator app, then show the recovery codes once."""
    user, pending = _pending_user(request)
    member = member_of(user) if user else None
    if member is None or member.totp_secret:
        return redirect("login")
    secret = pending.get("secret") or pyotp.random_base32()
    pending["secret"] = secret
    request.session[PENDING] = pending
    error = None
    form = CodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            codes = auth.totp_enrol(member=member, secret=secret, code=form.cleaned_data["otp"],
                                    request=request)
        except DomainError:
            error = _("This code does not match: check the phone's clock and try again.")
        else:
            response = _finish(request, user, pending.get("next"))
            return render(request, "partners/recovery_codes.html",
                          {"codes": codes, "continue_url": response["Location"]})
    uri = pyotp.TOTP(secret).provisioning_uri(name=user.get_username(), issuer_name="CSUi Plaine Vallée")
    return render(request, "partners/login_enrol.html", {
        "form": form, "error": error, "secret": " ".join(secret[i:i + 4] for i in range(0, len(secret), 4)),
        "qr": segno.make(uri, error="m").svg_data_uri(scale=4), "who": user})


@require_POST
def logout_view(request: HttpRequest) -> HttpResponse:
    """``POST /accounts/logout/`` — ends this session everywhere it is used, sockets included."""
    if request.user.is_authenticated and request.session.session_key:
        user, key = request.user, request.session.session_key
        logout(request)
        auth.session_end(user=user, session_key=key, request=request, action=Action.LOGOUT)
    else:
        logout(request)
    return redirect("login")


@login_required
def sessions_view(request: HttpRequest) -> HttpResponse:
    """``/compte/sessions/`` — one's open sessions, and a button to end any of them."""
    if request.method == "POST":
        session = auth.sessions_of(signed_in(request)).filter(pk=request.POST.get("session_id") or 0).first()
        if session is not None and session.session_key == request.session.session_key:
            return logout_view(request)
        if session is not None:
            auth.session_end(user=signed_in(request), session_key=session.session_key, request=request)
        return redirect("account-sessions")
    sessions = list(auth.sessions_of(signed_in(request)))
    return render(request, "partners/sessions.html", {
        "sessions": sessions, "current": request.session.session_key,
        "idle_minutes": settings.HUB_SESSION_IDLE_MINUTES, "max_hours": settings.HUB_SESSION_MAX_HOURS})


@login_required
def security_view(request: HttpRequest) -> HttpResponse:
    """``/compte/securite/`` — the second factor's state; new recovery codes (proved by a code)."""
    member = member_of(request.user)
    form = CodeForm(request.POST or None)
    error, status = None, 200
    if request.method == "POST" and member is not None and form.is_valid():
        try:
            codes = auth.recovery_codes_renew(request=request, user=signed_in(request),
                                              otp=form.cleaned_data["otp"])
        except auth.LoginLocked:
            error, status = _("Too many attempts: try again later."), 429
        except DomainError:
            error, status = _("Wrong, expired or already used code."), 401
        else:
            return render(request, "partners/recovery_codes.html",
                          {"codes": codes, "continue_url": resolve_url("account-security")})
    return render(request, "partners/security.html", {
        "member": member, "form": form, "error": error,
        "required": auth.mfa_required(member) or (member is not None and member.role in auth.MFA_ROLES),
        "codes_left": member.recovery_codes.filter(used_at__isnull=True).count() if member else 0},
        status=status)


def admin_login_redirect(request: HttpRequest) -> HttpResponse:
    """The admin signs in through our login page, second factor included (never around it)."""
    from urllib.parse import urlencode

    next_url = _safe_next(request, request.GET.get("next")) or "/admin/"
    return HttpResponseRedirect(f"{resolve_url('login')}?{urlencode({'next': next_url})}")
