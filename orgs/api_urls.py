from django.urls import path

from . import api

urlpatterns = [
    path("organizations", api.OrganizationListView.as_view(), name="api_organizations"),
    path("organizations/<id:org_id>", api.OrganizationDetailView.as_view(), name="api_organization"),
    path("organizations/<id:org_id>/invitations", api.InvitationListView.as_view(), name="api_invitations"),
    path(
        "organizations/<id:org_id>/invitations/<id:invitation_id>",
        api.InvitationDetailView.as_view(),
        name="api_invitation",
    ),
    path("organizations/<id:org_id>/members", api.MemberListView.as_view(), name="api_members"),
    path("organizations/<id:org_id>/members/<id:user_id>", api.MemberDetailView.as_view(), name="api_member"),
    path(
        "organizations/<id:org_id>/transfer-owner",
        api.TransferOwnerView.as_view(),
        name="api_transfer_owner",
    ),
]
