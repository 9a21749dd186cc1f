from django.urls import path

from streaming import api, nodes_api

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
    path("cameras/<int:pk>/preset/", api.PresetApi.as_view(), name="camera-preset"),
    path("pipelines/", api.PipelinesApi.as_view(), name="video-pipelines"),
    path("nodes/", nodes_api.NodeListApi.as_view(), name="recorder-nodes"),
    path("masks/<int:mask_id>/lift/", api.MaskLiftApi.as_view(), name="mask-lift"),
    path("mask-lifts/<int:pk>/end/", api.MaskLiftEndApi.as_view(), name="mask-lift-end"),
]
