from django.urls import path

from incidents.api import alarms, alerts, incidents, journal, radio, units

urlpatterns = [
    path("natures/", incidents.NatureListApi.as_view(), name="nature-list"),
    path("incidents/", incidents.IncidentListApi.as_view(), name="incident-list"),
    path("incidents/<int:pk>/", incidents.IncidentDetailApi.as_view(), name="incident-detail"),
    path("incidents/<int:pk>/journal/", journal.JournalAppendApi.as_view(), name="incident-journal"),
    path("incidents/<int:pk>/transitions/", incidents.TransitionApi.as_view(), name="incident-transitions"),
    path("incidents/<int:pk>/cameras/", incidents.CameraAttachApi.as_view(), name="incident-cameras"),
    path("incidents/<int:pk>/shares/", incidents.ShareApi.as_view(), name="incident-shares"),
    path("incidents/<int:pk>/shares/<slug:agency>/", incidents.UnshareApi.as_view(), name="incident-share"),
    path("radio/nets/", radio.NetListApi.as_view(), name="radio-net-list"),
    path("radio/nets/<int:pk>/messages/", radio.NetMessagesApi.as_view(), name="radio-net-messages"),
    path("radio/messages/", radio.RadioMessageListApi.as_view(), name="radio-message-list"),
    path("radio/messages/<int:pk>/ack/", radio.RadioAckApi.as_view(), name="radio-message-ack"),
    path("units/", units.UnitListApi.as_view(), name="unit-list"),
    path("units/<int:pk>/", units.UnitDetailApi.as_view(), name="unit-detail"),
    path("units/<int:pk>/status/", units.UnitStatusApi.as_view(), name="unit-status"),
    path("units/<int:pk>/position/", units.UnitPositionApi.as_view(), name="unit-position"),
    path("units/<int:pk>/engage/", units.UnitEngageApi.as_view(), name="unit-engage"),
    path("alerts/", alerts.AlertListApi.as_view(), name="alert-list"),
    path("alerts/stats/", alerts.AlertStatsApi.as_view(), name="alert-stats"),
    path("alerts/<int:pk>/ack/", alerts.AlertAckApi.as_view(), name="alert-ack"),
    path("alerts/<int:pk>/take-charge/", alerts.AlertTakeChargeApi.as_view(), name="alert-take-charge"),
    path("alerts/<int:pk>/close/", alerts.AlertCloseApi.as_view(), name="alert-close"),
    path("alarms/", alarms.AlarmListApi.as_view(), name="alarm-list"),
]
