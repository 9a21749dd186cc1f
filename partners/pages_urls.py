from django.urls import path

from partners import views

urlpatterns = [
    path("accounts/login/", views.login_view, name="login"),
    path("accounts/login/code/", views.login_otp_view, name="login-otp"),
    path("accounts/login/enrol/", views.login_enrol_view, name="login-enrol"),
    path("accounts/logout/", views.logout_view, name="logout"),
    path("compte/sessions/", views.sessions_view, name="account-sessions"),
    path("compte/securite/", views.security_view, name="account-security"),
]
