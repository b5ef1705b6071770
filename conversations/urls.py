from django.urls import path

from . import views

urlpatterns = [
    path("", views.conversation_list, name="conversation_list"),
    path("<id:conversation_id>/", views.conversation_thread, name="conversation_thread"),
    path("<id:conversation_id>/rename/", views.conversation_rename, name="conversation_rename"),
    path("<id:conversation_id>/delete/", views.conversation_delete, name="conversation_delete"),
]
