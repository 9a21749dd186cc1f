from django.urls import path

from geo import api

urlpatterns = [path("communes/", api.CommuneListApi.as_view(), name="commune-list")]
