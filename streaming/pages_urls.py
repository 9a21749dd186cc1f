from django.urls import path

from streaming import views

urlpatterns = [
    path("portail/flux/", views.feeds, name="video-feeds"),
    path("mur/", views.wall, name="video-wall"),
]
