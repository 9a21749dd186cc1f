from django.urls import path

from streaming import api

urlpatterns = [
    path("grants/", api.GrantListApi.as_view(), name="grant-list"),
    path("grants/<int:pk>/revoke/", api.GrantRevokeApi.as_view(), name="grant-revoke"),
    path("grants/<int:pk>/extend/", api.GrantExtendApi.as_view(), name="grant-extend"),
]
