from django.contrib.auth import update_session_auth_hash
from drf_spectacular.utils import extend_schema
from rest_framework.response import Response
from rest_framework.throttling import ScopedRateThrottle
from rest_framework.views import APIView

from apikeys.models import ApiKey
from orgs.selectors import memberships_of_user

from . import services
from .selectors import two_factor_status
from .serializers import (
    ChangePasswordSerializer,
    MeSerializer,
    ProfileUpdateSerializer,
    TwoFactorStatusSerializer,
)


def _me(user) -> dict:
    memberships = list(memberships_of_user(user=user))
    return MeSerializer(user, context={"memberships": memberships}).data


class MeView(APIView):
    @extend_schema(responses=MeSerializer, summary="The signed-in user and their organizations")
    def get(self, request):
        return Response(_me(request.user))


class ProfileView(APIView):
    @extend_schema(request=ProfileUpdateSerializer, responses=MeSerializer, summary="Edit the profile")
    def patch(self, request):
        serializer = ProfileUpdateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        services.profile_update(user=request.user, full_name=serializer.validated_data["full_name"])
        return Response(_me(request.user))


class ChangePasswordView(APIView):
    throttle_classes = [ScopedRateThrottle]
    throttle_scope = "password"

    @extend_schema(
        request=ChangePasswordSerializer,
        responses=MeSerializer,
        summary="Change the password; every other session ends",
    )
    def post(self, request):
        serializer = ChangePasswordSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        services.password_change(user=request.user, **serializer.validated_data)
        if not isinstance(request.auth, ApiKey):
            # Called from the dashboard: keep this session, end the others.
            update_session_auth_hash(request._request, request.user)
        return Response(_me(request.user))


class TwoFactorStatusView(APIView):
    @extend_schema(responses=TwoFactorStatusSerializer, summary="Whether two-factor is on")
    def get(self, request):
        return Response(two_factor_status(user=request.user))
