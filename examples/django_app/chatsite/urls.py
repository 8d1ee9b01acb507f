from django.urls import path

from . import views

urlpatterns = [
    path("chat", views.chat),
    path("stream", views.stream),
    path("healthz", views.healthz),
]
