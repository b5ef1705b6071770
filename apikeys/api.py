from drf_spectacular.utils import extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView

from core.api_views import paginated_response
from core.idempotency import idempotent
from core.schema import PAGE_PARAMETERS, errors, page_of
from orgs.audit import client_ip
from orgs.selectors import acting_membership

from . import services
from .selectors import key_get_visible, keys_visible_to
from .serializers import (
    AlertWebhookSerializer,
    ApiKeyCreatedSerializer,
    ApiKeyCreateSerializer,
    ApiKeySerializer,
    ApiKeyUpdateSerializer,
    ApiKeyWithSecretSerializer,
    RoutingPolicySerializer,
    SpendCapSerializer,
)


def _valid(serializer_class, request) -> dict:
    serializer = serializer_class(data=request.data)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


def _key_with_secret(api_key) -> dict:
    """The key object plus its webhook signing secret (only where API.md shows it)."""
    body = dict(ApiKeySerializer(api_key).data)
    body["webhook_secret"] = api_key.webhook_secret or None
    return body


class KeyListView(APIView):
    @extend_schema(
        parameters=PAGE_PARAMETERS,
        responses=page_of(ApiKeySerializer),
        summary="The organization's keys you may see",
    )
    def get(self, request):
        return paginated_response(
            request,
            keys_visible_to(acting_membership(request)),
            ordering=("-created_at", "-id"),
            serializer_class=ApiKeySerializer,
        )

    @extend_schema(
        request=ApiKeyCreateSerializer,
        responses={201: ApiKeyCreatedSerializer},
        summary="Create a key; the only response with the full key",
    )
    @idempotent(secret_fields=("full_key", "webhook_secret"))
    def post(self, request):
        membership = acting_membership(request)
        data = _valid(ApiKeyCreateSerializer, request)
        api_key, full_key = services.key_create(
            organization=membership.organization, created_by=request.user, ip=client_ip(request), **data
        )
        body = {"full_key": full_key, "key": ApiKeySerializer(api_key).data}
        if api_key.webhook_secret:
            body["webhook_secret"] = api_key.webhook_secret
        return Response(body, status=201)


class KeyDetailView(APIView):
    @extend_schema(responses=ApiKeySerializer, summary="One key")
    def get(self, request, key_id):
        return Response(ApiKeySerializer(key_get_visible(acting_membership(request), key_id)).data)

    @extend_schema(
        request=ApiKeyUpdateSerializer,
        responses={200: ApiKeySerializer, **errors(409)},
        summary="Rename, change alert thresholds or expiry",
    )
    def patch(self, request, key_id):
        api_key = key_get_visible(acting_membership(request), key_id)
        data = _valid(ApiKeyUpdateSerializer, request)
        api_key = services.key_update(api_key=api_key, actor=request.user, ip=client_ip(request), **data)
        return Response(ApiKeySerializer(api_key).data)


class KeyRevokeView(APIView):
    @extend_schema(request=None, responses=ApiKeySerializer, summary="Revoke a key; it stops working at once")
    def post(self, request, key_id):
        api_key = key_get_visible(acting_membership(request), key_id)
        api_key = services.key_revoke(api_key=api_key, actor=request.user, ip=client_ip(request))
        return Response(ApiKeySerializer(api_key).data)


class KeySpendCapView(APIView):
    @extend_schema(
        request=SpendCapSerializer,
        responses={200: ApiKeySerializer, **errors(409)},
        summary='Set the monthly cap ("100" is stored as "100.00") or clear it',
    )
    def post(self, request, key_id):
        api_key = key_get_visible(acting_membership(request), key_id)
        data = _valid(SpendCapSerializer, request)
        api_key = services.key_update_spend_cap(
            api_key=api_key,
            cap=data.get("monthly_spend_cap_usd"),
            clear=data["clear"],
            actor=request.user,
            ip=client_ip(request),
        )
        return Response(ApiKeySerializer(api_key).data)


class KeyAlertWebhookView(APIView):
    @extend_schema(
        request=AlertWebhookSerializer,
        responses={200: ApiKeyWithSecretSerializer, **errors(409)},
        summary="Set (HTTPS, public hosts) or clear the alert webhook",
    )
    def post(self, request, key_id):
        api_key = key_get_visible(acting_membership(request), key_id)
        data = _valid(AlertWebhookSerializer, request)
        api_key = services.key_update_alert_webhook(
            api_key=api_key, url=data["url"], actor=request.user, ip=client_ip(request)
        )
        return Response(_key_with_secret(api_key))


class KeyWebhookSecretRotateView(APIView):
    @extend_schema(
        request=None,
        responses={200: ApiKeyWithSecretSerializer, **errors(409)},
        summary="Replace the webhook signing secret (the old one signs too, for a day)",
    )
    def post(self, request, key_id):
        api_key = key_get_visible(acting_membership(request), key_id)
        api_key = services.key_rotate_webhook_secret(
            api_key=api_key, actor=request.user, ip=client_ip(request)
        )
        return Response(_key_with_secret(api_key))


class KeyRoutingPolicyView(APIView):
    @extend_schema(
        request=RoutingPolicySerializer,
        responses={200: ApiKeySerializer, **errors(409)},
        summary="cn-only, overseas-only or any",
    )
    def post(self, request, key_id):
        api_key = key_get_visible(acting_membership(request), key_id)
        data = _valid(RoutingPolicySerializer, request)
        api_key = services.key_update_routing_policy(
            api_key=api_key, routing_policy=data["routing_policy"], actor=request.user, ip=client_ip(request)
        )
        return Response(ApiKeySerializer(api_key).data)
