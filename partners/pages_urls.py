from django.urls import path

from partners import views

urlpatterns = [
    path("accounts/login/", views.HubLoginView.as_view(), name="login"),
    path("accounts/logout/", views.logout, name="logout"),
]
