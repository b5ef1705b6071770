from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView

from core.api_views import paginated_response
from core.errors import ServiceError
from core.idempotency import idempotent
from core.pagination import parse_limit
from core.schema import PAGE_PARAMETERS, page_of
from orgs.selectors import acting_membership

from . import selectors, services
from .serializers import (
    ConversationDetailSerializer,
    ConversationSerializer,
    ConversationWriteSerializer,
    MessageCreateSerializer,
    MessageSerializer,
)

MAX_MESSAGE_LIMIT = 1000


def _data(serializer_class, request) -> dict:
    serializer = serializer_class(data=request.data)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


def _metadata_filters(request) -> dict[str, str]:
    """``?metadata[user_id]=u_1&metadata[topic]=billing``."""
    return {
        name[len("metadata[") : -1]: value
        for name, value in request.query_params.items()
        if name.startswith("metadata[") and name.endswith("]")
    }


class ConversationListView(APIView):
    @extend_schema(
        responses=page_of(ConversationSerializer),
        summary="Conversations, newest activity first",
        parameters=[
            *PAGE_PARAMETERS,
            OpenApiParameter(
                "metadata",
                {"type": "object", "additionalProperties": {"type": "string"}},
                style="deepObject",
                explode=True,
                description="`metadata[key]=value`: only conversations whose metadata has that top-level "
                "key with that value (as a string); several filters must all hold. A key has 1 to 64 "
                "letters, digits, `_`, `-` or `.`.",
            ),
        ],
    )
    def get(self, request):
        conversations = selectors.conversations_of(
            acting_membership(request).organization, metadata_filters=_metadata_filters(request)
        )
        return paginated_response(
            request, conversations, ordering=("-updated_at", "-id"), serializer_class=ConversationSerializer
        )

    @extend_schema(
        request=ConversationWriteSerializer,
        responses={201: ConversationSerializer},
        summary="Create a conversation",
    )
    @idempotent
    def post(self, request):
        membership = acting_membership(request)
        conversation = services.conversation_create(
            organization=membership.organization,
            user=request.user,
            **_data(ConversationWriteSerializer, request),
        )
        return Response(ConversationSerializer(conversation).data, status=201)


class ConversationDetailView(APIView):
    @extend_schema(
        responses=ConversationDetailSerializer,
        parameters=[
            OpenApiParameter(
                "message_limit",
                {"type": "integer", "minimum": 1, "maximum": MAX_MESSAGE_LIMIT, "default": 100},
                description=f"How many of the most recent messages, 1 to {MAX_MESSAGE_LIMIT}.",
            )
        ],
        summary="A conversation with its most recent messages, oldest first",
    )
    def get(self, request, conversation_id):
        conversation = selectors.conversation_get(acting_membership(request).organization, conversation_id)
        limit = parse_limit(
            request.query_params.get("message_limit"),
            default=100,
            maximum=MAX_MESSAGE_LIMIT,
            param="message_limit",
        )
        messages, has_more = selectors.latest_messages(conversation, limit=limit)
        body = ConversationSerializer(conversation).data
        return Response(
            {**body, "messages": MessageSerializer(messages, many=True).data, "messages_has_more": has_more}
        )

    @extend_schema(
        request=ConversationWriteSerializer,
        responses=ConversationSerializer,
        summary="Change the title and/or the metadata",
    )
    def patch(self, request, conversation_id):
        conversation = services.conversation_update(
            organization=acting_membership(request).organization,
            conversation_id=conversation_id,
            **_data(ConversationWriteSerializer, request),
        )
        return Response(ConversationSerializer(conversation).data)

    @extend_schema(responses={204: None}, summary="Delete a conversation and its messages")
    def delete(self, request, conversation_id):
        services.conversation_delete(
            organization=acting_membership(request).organization, conversation_id=conversation_id
        )
        return Response(status=204)


class MessageListView(APIView):
    @extend_schema(
        responses=page_of(MessageSerializer),
        parameters=[
            *PAGE_PARAMETERS,
            OpenApiParameter("order", {"type": "string", "enum": ["asc", "desc"], "default": "asc"}),
        ],
        summary="A conversation's messages, a keyset page at a time",
    )
    def get(self, request, conversation_id):
        conversation = selectors.conversation_get(acting_membership(request).organization, conversation_id)
        order = request.query_params.get("order", "asc")
        if order not in ("asc", "desc"):
            raise ServiceError("order must be asc or desc.", code="invalid_order", param="order")
        return paginated_response(
            request,
            selectors.messages_of(conversation),
            ordering=("seq",) if order == "asc" else ("-seq",),
            serializer_class=MessageSerializer,
        )

    @extend_schema(
        request=MessageCreateSerializer,
        responses={201: MessageSerializer},
        summary="Append a message (persists only; never calls a model)",
    )
    @idempotent
    def post(self, request, conversation_id):
        message = services.message_append(
            organization=acting_membership(request).organization,
            conversation_id=conversation_id,
            **_data(MessageCreateSerializer, request),
        )
        return Response(MessageSerializer(message).data, status=201)
