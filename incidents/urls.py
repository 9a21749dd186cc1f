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
    path("radio/nets/", api.NetListApi.as_view(), name="radio-net-list"),
    path("radio/nets/<int:pk>/messages/", api.NetMessagesApi.as_view(), name="radio-net-messages"),
    path("radio/messages/", api.RadioMessageListApi.as_view(), name="radio-message-list"),
    path("radio/messages/<int:pk>/ack/", api.RadioAckApi.as_view(), name="radio-message-ack"),
    path("units/", api.UnitListApi.as_view(), name="unit-list"),
    path("units/<int:pk>/", api.UnitDetailApi.as_view(), name="unit-detail"),
    path("units/<int:pk>/status/", api.UnitStatusApi.as_view(), name="unit-status"),
    path("units/<int:pk>/position/", api.UnitPositionApi.as_view(), name="unit-position"),
    path("units/<int:pk>/engage/", api.UnitEngageApi.as_view(), name="unit-engage"),
    path("alerts/", api.AlertListApi.as_view(), name="alert-list"),
    path("alerts/stats/", api.AlertStatsApi.as_view(), name="alert-stats"),
    path("alerts/<int:pk>/ack/", api.AlertAckApi.as_view(), name="alert-ack"),
    path("alerts/<int:pk>/take-charge/", api.AlertTakeChargeApi.as_view(), name="alert-take-charge"),
    path("alerts/<int:pk>/close/", api.AlertCloseApi.as_view(), name="alert-close"),
]
