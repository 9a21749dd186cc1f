from django.urls import path

from geo import api

urlpatterns = [
    path("communes/", api.CommuneListApi.as_view(), name="commune-list"),
    path("address/search/", api.AddressSearchApi.as_view(), name="address-search"),
    path("address/reverse/", api.AddressReverseApi.as_view(), name="address-reverse"),
    path("basemap.pmtiles", api.BasemapFileApi.as_view(), name="basemap-file"),
]
