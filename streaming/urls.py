from django.urls import path

from streaming import api, register_api, requisitions_api, snapshots_api

urlpatterns = [
    path("grants/", api.GrantListApi.as_view(), name="grant-list"),
    path("grants/<int:pk>/revoke/", api.GrantRevokeApi.as_view(), name="grant-revoke"),
    path("grants/<int:pk>/extend/", api.GrantExtendApi.as_view(), name="grant-extend"),
    path("cameras/", api.CameraVideoFactsApi.as_view(), name="camera-video-facts"),
    path("walls/", api.WallListApi.as_view(), name="wall-list"),
    path("walls/<slug:name>/", api.WallApi.as_view(), name="wall-detail"),
    path("walls/<slug:name>/tiles/", api.WallTileApi.as_view(), name="wall-tile"),
    path("cameras/<int:pk>/whep", api.WhepApi.as_view(), name="whep"),
    path("whep/<str:session_id>", api.WhepSessionApi.as_view(), name="whep-session"),
    path("cameras/<int:pk>/snapshots/", snapshots_api.SnapshotCreateApi.as_view(), name="snapshot-create"),
    path("snapshots/", snapshots_api.SnapshotListApi.as_view(), name="snapshot-list"),
    path("snapshots/<int:pk>/image", snapshots_api.SnapshotImageApi.as_view(), name="snapshot-image"),
    path("cameras/<int:pk>/preset/", api.PresetApi.as_view(), name="camera-preset"),
    path("pipelines/", api.PipelinesApi.as_view(), name="video-pipelines"),
    path("masks/<int:mask_id>/lift/", api.MaskLiftApi.as_view(), name="mask-lift"),
    path("mask-lifts/<int:pk>/end/", api.MaskLiftEndApi.as_view(), name="mask-lift-end"),
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
