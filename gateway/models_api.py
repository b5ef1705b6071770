"""``GET /v1/models`` and ``GET /v1/models/{id}``: the models a key may ask for, OpenAI-compatible.

The list is answered whole, as OpenAI's is (``{"object": "list", "data": [...]}``), with API.md's
``has_more: false`` and ``next_cursor: null`` beside it so that a client paging as the other lists do
stops after one page: there are a few hundred models at most, and OpenAI's clients page nothing here.
A key sees the pools and every model switched on in the regions its routing policy allows (a session,
every region), each priced at the organization's plan by billing.pricing; ``available`` says whether
it can be served now (a provider without a key is switched off).
"""

from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.exceptions import NotFound
from rest_framework.response import Response
from rest_framework.views import APIView

from apikeys.models import RoutingPolicy
from billing.selectors import account_with_plan
from orgs.selectors import acting_membership

from .routing import REGIONS_BY_POLICY
from .selectors import model_library
from .serializers import ModelListSerializer, ModelSerializer


def _library(request) -> list:
    organization = acting_membership(request).organization
    policy = getattr(request.auth, "routing_policy", None) or RoutingPolicy.ANY
    return model_library(
        organization=organization,
        regions=REGIONS_BY_POLICY[policy],
        plan=account_with_plan(organization).plan,
    )


class ModelListView(APIView):
    @extend_schema(
        operation_id="models_list",
        responses=ModelListSerializer,
        summary="The models this key may ask for",
        description="The two pools (`nexevo/fast`, `nexevo/balanced`), then every real model in the "
        "regions the key's routing policy allows, by id. The whole list in one answer, as OpenAI's: "
        "`limit` and `cursor` are not taken, and `has_more` is always false. Prices are per million "
        "tokens at the organization's plan.",
    )
    def get(self, request):
        models = ModelSerializer(_library(request), many=True).data
        return Response({"object": "list", "data": models, "has_more": False, "next_cursor": None})


class ModelDetailView(APIView):
    @extend_schema(
        operation_id="models_retrieve",
        parameters=[
            OpenApiParameter(
                "model_id",
                str,
                OpenApiParameter.PATH,
                description="A model id as the list gives it; its slash may be sent as is or as `%2F`.",
            )
        ],
        responses=ModelSerializer,
        summary="One model",
        description="404 `model_not_found` for an id that is not offered, or not in the regions the "
        "key's routing policy allows.",
    )
    def get(self, request, model_id: str):
        entry = next((entry for entry in _library(request) if entry.id == model_id), None)
        if entry is None:
            raise NotFound(
                _("No model %(id)s is offered to this key.") % {"id": model_id}, code="model_not_found"
            )
        return Response(ModelSerializer(entry).data)
