from django.urls import path

from cameras import api

urlpatterns = [
    path("", api.CameraListApi.as_view(), name="camera-list"),
    path("coverage/", api.CoverageApi.as_view(), name="camera-coverage"),
    path("<int:pk>/", api.CameraDetailApi.as_view(), name="camera-detail"),
    path("<int:pk>/relocate/", api.CameraRelocateApi.as_view(), name="camera-relocate"),
    path("<int:pk>/masks/", api.MaskListApi.as_view(), name="camera-masks"),
    path("<int:pk>/masks/<int:mask_id>/", api.MaskDetailApi.as_view(), name="camera-mask"),
]
