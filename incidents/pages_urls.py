from django.urls import path

from incidents import views

urlpatterns = [
    path("console/", views.console, name="console"),
    path("portail/incidents/", views.portal_incidents, name="portal-incidents"),
    path("portail/alertes/", views.portal_alerts, name="portal-alerts"),
    path("terrain/", views.tablet, name="tablet"),
]
