from django.urls import path

from . import views

urlpatterns = [
    path("", views.organization_list, name="organization_list"),
    path("switch/", views.organization_switch, name="organization_switch"),
    path("<str:org_id>/members/", views.organization_members, name="organization_members"),
    path("<str:org_id>/members/<str:user_id>/role/", views.member_role_change, name="member_role_change"),
    path("<str:org_id>/members/<str:user_id>/remove/", views.member_remove, name="member_remove"),
    path("<str:org_id>/invitations/", views.invitation_create, name="invitation_create"),
    path(
        "<str:org_id>/invitations/<str:invitation_id>/resend/",
        views.invitation_resend,
        name="invitation_resend",
    ),
    path(
        "<str:org_id>/invitations/<str:invitation_id>/revoke/",
        views.invitation_revoke,
        name="invitation_revoke",
    ),
    path("<str:org_id>/leave/", views.organization_leave, name="organization_leave"),
    path("<str:org_id>/settings/", views.organization_settings, name="organization_settings"),
    path("<str:org_id>/transfer/", views.ownership_transfer, name="ownership_transfer"),
    path("<str:org_id>/delete/", views.organization_delete, name="organization_delete"),
    path("<str:org_id>/activity/", views.organization_activity, name="organization_activity"),
]
