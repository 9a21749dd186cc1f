from django.urls import path

from ptz import api

urlpatterns = [
    path("cameras/<int:pk>/", api.PtzStateApi.as_view(), name="ptz-state"),
    path("cameras/<int:pk>/lease/", api.LeaseApi.as_view(), name="ptz-lease"),
    path("cameras/<int:pk>/move/", api.MoveApi.as_view(), name="ptz-move"),
    path("cameras/<int:pk>/preset/", api.PresetApi.as_view(), name="ptz-preset"),
    path("cameras/<int:pk>/home/", api.HomeApi.as_view(), name="ptz-home"),
    path("cameras/<int:pk>/aim/", api.AimApi.as_view(), name="ptz-aim"),
]
