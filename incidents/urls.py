from django.urls import path

from incidents import api

urlpatterns = [
    path("natures/", api.NatureListApi.as_view(), name="nature-list"),
    path("incidents/", api.IncidentListApi.as_view(), name="incident-list"),
    path("incidents/<int:pk>/", api.IncidentDetailApi.as_view(), name="incident-detail"),
    path("incidents/<int:pk>/journal/", api.JournalAppendApi.as_view(), name="incident-journal"),
    path("incidents/<int:pk>/transitions/", api.TransitionApi.as_view(), name="incident-transitions"),
    path("incidents/<int:pk>/cameras/", api.CameraAttachApi.as_view(), name="incident-cameras"),
    path("incidents/<int:pk>/shares/", api.ShareApi.as_view(), name="incident-shares"),
    path("incidents/<int:pk>/shares/<slug:agency>/", api.UnshareApi.as_view(), name="incident-share"),
]
