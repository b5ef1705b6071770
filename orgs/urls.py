from django.urls import path

from . import views

urlpatterns = [
    path("", views.organization_list, name="organization_list"),
    path("switch/", views.organization_switch, name="organization_switch"),
    path("<id:org_id>/members/", views.organization_members, name="organization_members"),
    path("<id:org_id>/members/<id:user_id>/role/", views.member_role_change, name="member_role_change"),
    path("<id:org_id>/members/<id:user_id>/remove/", views.member_remove, name="member_remove"),
    path("<id:org_id>/invitations/", views.invitation_create, name="invitation_create"),
    path(
        "<id:org_id>/invitations/<id:invitation_id>/resend/",
        views.invitation_resend,
        name="invitation_resend",
    ),
    path(
        "<id:org_id>/invitations/<id:invitation_id>/revoke/",
        views.invitation_revoke,
        name="invitation_revoke",
    ),
    path("<id:org_id>/leave/", views.organization_leave, name="organization_leave"),
    path("<id:org_id>/settings/", views.organization_settings, name="organization_settings"),
    path("<id:org_id>/transfer/", views.ownership_transfer, name="ownership_transfer"),
    path("<id:org_id>/delete/", views.organization_delete, name="organization_delete"),
    path("<id:org_id>/activity/", views.organization_activity, name="organization_activity"),
]
