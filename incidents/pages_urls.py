from django.urls import path

from incidents import views

urlpatterns = [
    path("console/", views.console, name="console"),
]
