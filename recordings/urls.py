"""The recordings' REST API, under ``/api/streaming/`` as before it had its own app (same paths,
same operation ids; config/urls.py includes it beside the live video's)."""

from django.urls import path

from recordings import register_api, requisitions_api, snapshots_api

urlpatterns = [
    path("cameras/<int:pk>/snapshots/", snapshots_api.SnapshotCreateApi.as_view(), name="snapshot-create"),
    path("snapshots/", snapshots_api.SnapshotListApi.as_view(), name="snapshot-list"),
    path("snapshots/<int:pk>/image", snapshots_api.SnapshotImageApi.as_view(), name="snapshot-image"),
    path("requisitions/", requisitions_api.RequisitionListApi.as_view(), name="requisition-list"),
    path("requisitions/<int:pk>/", requisitions_api.RequisitionDetailApi.as_view(),
         name="requisition-detail"),
    path("requisitions/<int:pk>/extract/", requisitions_api.RequisitionExtractApi.as_view(),
         name="requisition-extract"),
    path("requisitions/<int:pk>/files/<str:name>", requisitions_api.RequisitionFileApi.as_view(),
         name="requisition-file"),
    path("requisitions/<int:pk>/handover/", requisitions_api.RequisitionHandoverApi.as_view(),
         name="requisition-handover"),
    path("register/", register_api.RegisterApi.as_view(), name="recording-register"),
    path("register/stats/", register_api.RegisterStatsApi.as_view(), name="recording-register-stats"),
    path("holds/<int:pk>/release/", requisitions_api.HoldReleaseApi.as_view(), name="hold-release"),
]
