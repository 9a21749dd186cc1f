from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from config import pages, views

urlpatterns = [
    path("", views.home, name="home"),
    path("healthz", views.healthz, name="healthz"),
    path("console/", pages.console, name="console"),
    path("accounts/login/", pages.HubLoginView.as_view(), name="login"),
    path("accounts/logout/", pages.logout, name="logout"),
    path("admin/", admin.site.urls),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="api-docs"),
    path("api/auth/", include("partners.urls")),
    path("api/geo/", include("geo.urls")),
    path("api/cameras/", include("cameras.urls")),
    path("api/", include("incidents.urls")),
    path("api/streaming/", include("streaming.urls")),
]
