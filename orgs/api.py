from drf_spectacular.utils import extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView

from core.api_views import paginated_response
from core.idempotency import idempotent
from core.schema import PAGE_PARAMETERS, page_of

from . import services
from .audit import client_ip
from .models import Membership
from .permissions import Action, require
from .selectors import (
    invitations_of_organization,
    members_of_organization,
    membership_or_404,
    organizations_of_user,
    organizations_with_owner,
)
from .serializers import (
    InvitationCreateSerializer,
    InvitationEnvelopeSerializer,
    InvitationSerializer,
    MemberSerializer,
    MemberUpdateSerializer,
    OrganizationCreateSerializer,
    OrganizationListItemSerializer,
    OrganizationSerializer,
    OrganizationWithMembershipSerializer,
    TransferOwnerSerializer,
)


def _with_membership(membership: Membership) -> dict:
    organization = organizations_with_owner().get(pk=membership.organization_id)
    return {
        "organization": OrganizationSerializer(organization).data,
        "membership": {"role": membership.role},
    }


class OrganizationListView(APIView):
    @extend_schema(
        parameters=PAGE_PARAMETERS,
        responses=page_of(OrganizationListItemSerializer),
        summary="The organizations the caller belongs to",
    )
    def get(self, request):
        organizations = organizations_of_user(user=request.user)
        return paginated_response(
            request,
            organizations,
            ordering=("created_at", "id"),
            serializer_class=OrganizationListItemSerializer,
        )

    @extend_schema(
        request=OrganizationCreateSerializer,
        responses={201: OrganizationWithMembershipSerializer},
        summary="Create an organization owned by the caller",
    )
    @idempotent
    def post(self, request):
        serializer = OrganizationCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        membership = services.organization_create(
            user=request.user, name=serializer.validated_data["name"], ip=client_ip(request)
        )
        return Response(_with_membership(membership), status=201)


class OrganizationDetailView(APIView):
    @extend_schema(responses=OrganizationWithMembershipSerializer, summary="One organization")
    def get(self, request, org_id):
        return Response(_with_membership(membership_or_404(user=request.user, organization_id=org_id)))


class InvitationListView(APIView):
    @extend_schema(
        parameters=PAGE_PARAMETERS,
        responses=page_of(InvitationSerializer),
        summary="The organization's invitations",
    )
    def get(self, request, org_id):
        membership = membership_or_404(user=request.user, organization_id=org_id)
        require(membership, Action.MANAGE_DEVELOPERS)
        return paginated_response(
            request,
            invitations_of_organization(organization=membership.organization),
            ordering=("-created_at", "-id"),
            serializer_class=InvitationSerializer,
        )

    @extend_schema(
        request=InvitationCreateSerializer,
        responses={201: InvitationEnvelopeSerializer},
        summary="Invite someone by e-mail",
    )
    @idempotent
    def post(self, request, org_id):
        membership = membership_or_404(user=request.user, organization_id=org_id)
        serializer = InvitationCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        invitation = services.invitation_create(
            membership=membership, ip=client_ip(request), **serializer.validated_data
        )
        return Response({"invitation": InvitationSerializer(invitation).data}, status=201)


class InvitationDetailView(APIView):
    @extend_schema(
        # Like Stripe's deletes, the answer is the object as it now is (status "revoked").
        responses={200: InvitationEnvelopeSerializer},
        summary="Withdraw an invitation; answers it, revoked",
    )
    def delete(self, request, org_id, invitation_id):
        membership = membership_or_404(user=request.user, organization_id=org_id)
        invitation = services.invitation_revoke(
            membership=membership, invitation_id=invitation_id, ip=client_ip(request)
        )
        return Response({"invitation": InvitationSerializer(invitation).data})


class MemberListView(APIView):
    @extend_schema(
        parameters=PAGE_PARAMETERS, responses=page_of(MemberSerializer), summary="The organization's members"
    )
    def get(self, request, org_id):
        membership = membership_or_404(user=request.user, organization_id=org_id)
        return paginated_response(
            request,
            members_of_organization(organization=membership.organization),
            ordering=("joined_at", "id"),
            serializer_class=MemberSerializer,
        )


class MemberDetailView(APIView):
    @extend_schema(request=MemberUpdateSerializer, responses=MemberSerializer, summary="Change a role")
    def patch(self, request, org_id, user_id):
        membership = membership_or_404(user=request.user, organization_id=org_id)
        serializer = MemberUpdateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        member = services.member_update_role(
            membership=membership,
            user_id=user_id,
            role=serializer.validated_data["role"],
            ip=client_ip(request),
        )
        return Response(MemberSerializer(member).data)

    @extend_schema(responses={204: None}, summary="Remove a member; their keys here are revoked")
    def delete(self, request, org_id, user_id):
        membership = membership_or_404(user=request.user, organization_id=org_id)
        services.member_remove(membership=membership, user_id=user_id, ip=client_ip(request))
        return Response(status=204)


class TransferOwnerView(APIView):
    @extend_schema(
        request=TransferOwnerSerializer,
        responses=OrganizationWithMembershipSerializer,
        summary="Make another member the owner; the caller becomes an admin",
    )
    def post(self, request, org_id):
        membership = membership_or_404(user=request.user, organization_id=org_id)
        serializer = TransferOwnerSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        membership = services.ownership_transfer(
            membership=membership,
            ip=client_ip(request),
            new_owner_user_id=serializer.validated_data["new_owner_user_id"],
        )
        return Response(_with_membership(membership))
