from django.urls import path

from partners import api

urlpatterns = [
    path("token/", api.TokenObtainApi.as_view(), name="auth-token"),
    path("token/revoke/", api.TokenRevokeApi.as_view(), name="auth-token-revoke"),
]
