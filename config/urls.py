from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from config import metrics, views
from partners import api as partners_api
from partners import views as partners_views

# The database pool exhausted is a 503 with Retry-After; anything else Django's own 500.
handler500 = "config.errors.server_error"

urlpatterns = [
    path("", views.home, name="home"),
    path("healthz", views.healthz, name="healthz"),
    path("metrics", metrics.metrics, name="metrics"),
    path("favicon.ico", views.favicon, name="favicon"),
    path("", include("partners.pages_urls")),
    path("", include("incidents.pages_urls")),
    path("", include("streaming.pages_urls")),
    path("", include("recordings.pages_urls")),
    # Before admin.site.urls: the admin's own login would skip the second factor.
    path("admin/login/", partners_views.admin_login_redirect),
    path("admin/", admin.site.urls),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="schema"), name="api-docs"),
    path("api/auth/", include("partners.urls")),
    path("api/audit/", partners_api.AuditListApi.as_view(), name="audit-list"),
    path("api/geo/", include("geo.urls")),
    path("api/cameras/", include("cameras.urls")),
    path("api/", include("incidents.urls")),
    path("api/streaming/", include("streaming.urls")),
    path("api/streaming/", include("recordings.urls")),
    path("api/ptz/", include("ptz.urls")),
]
