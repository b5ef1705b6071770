from drf_spectacular.utils import extend_schema
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from core.api_views import paginated_response, parse_days
from core.money import format_usd, format_usd_exact
from core.schema import PAGE_PARAMETERS, days_parameter, errors, page_of
from orgs.audit import client_ip
from orgs.selectors import acting_membership

from . import selectors, services
from .serializers import (
    BalanceSerializer,
    CheckoutSerializer,
    CheckoutSessionSerializer,
    PlanChangeSerializer,
    PlanSerializer,
    TransactionSerializer,
    UpgradeHintSerializer,
    UsageSerializer,
    WebhookReceivedSerializer,
)


def _valid(serializer_class, request) -> dict:
    serializer = serializer_class(data=request.data)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


def _totals(values: dict) -> dict:
    return {
        "requests": values["requests"],
        "prompt_tokens": values["prompt_tokens"],
        "completion_tokens": values["completion_tokens"],
        "cost_usd": format_usd_exact(values["cost_usd"]),
    }


class BalanceView(APIView):
    @extend_schema(responses=BalanceSerializer, summary="The organization's balance")
    def get(self, request):
        membership = acting_membership(request)
        account = selectors.account_with_plan(membership.organization)
        return Response(
            {
                "org_id": membership.organization_id,
                "balance_usd": format_usd(account.balance_usd),
                "currency": "USD",
            }
        )


class UsageView(APIView):
    @extend_schema(
        parameters=[days_parameter()],
        responses=UsageSerializer,
        summary="Usage per day (UTC) with a breakdown by tier",
    )
    def get(self, request):
        usage = selectors.usage_by_day(acting_membership(request).organization, days=parse_days(request))
        days = [
            {
                "date": day["date"].isoformat(),
                **_totals(day),
                "by_tier": {tier: _totals(values) for tier, values in day["by_tier"].items()},
            }
            for day in usage["days"]
        ]
        totals = {
            **_totals(usage["totals"]),
            "by_tier": {tier: _totals(values) for tier, values in usage["totals"]["by_tier"].items()},
        }
        return Response({"days": days, "totals": totals})


class PlanView(APIView):
    @extend_schema(responses=PlanSerializer, summary="The organization's plan with its fee and rates")
    def get(self, request):
        account = selectors.account_with_plan(acting_membership(request).organization)
        return Response(PlanSerializer(account.plan).data)

    @extend_schema(
        request=PlanChangeSerializer,
        responses={200: PlanSerializer, **errors(402)},
        summary="Change plan; the new fee for the rest of the month is charged, the unused days credited",
        description=(
            "Charges the new plan's monthly fee for the rest of the month, today included (a `plan_fee` "
            "transaction), and credits the unused part of the fee paid for the current plan this month: "
            "what was paid × the days after today ÷ the days that payment covered, never more than was "
            "paid (a `plan_credit` transaction). Both are rounded to the cent, half to even. 402 "
            "`insufficient_balance` when the balance plus the credit does not cover the fee (a change "
            "whose credit is at least its fee is never refused); nothing changes then."
        ),
    )
    def post(self, request):
        data = _valid(PlanChangeSerializer, request)
        account = services.plan_change(
            membership=acting_membership(request), plan_id=data["plan_id"], ip=client_ip(request)
        )
        return Response(PlanSerializer(account.plan).data)


class UpgradeHintView(APIView):
    @extend_schema(
        responses=UpgradeHintSerializer, summary="A cheaper plan for the last 30 days of usage, or null"
    )
    def get(self, request):
        hint = selectors.upgrade_hint(acting_membership(request).organization)
        if hint is not None:
            hint = {
                **hint,
                "savings_pct": f"{hint['savings_pct']:f}",
                "estimated_monthly_savings_usd": format_usd(hint["estimated_monthly_savings_usd"]),
            }
        return Response({"hint": hint})


class CheckoutView(APIView):
    @extend_schema(
        request=CheckoutSerializer,
        # 409: the idempotency_key was used with another amount; 502: Stripe refused; 503: Stripe is
        # not configured.
        responses={200: CheckoutSessionSerializer, **errors(409, 502, 503)},
        summary="A Stripe Checkout Session to top up the balance",
    )
    def post(self, request):
        data = _valid(CheckoutSerializer, request)
        top_up = services.checkout_create(
            membership=acting_membership(request), ip=client_ip(request), **data
        )
        return Response(
            {
                "checkout_url": top_up.checkout_url,
                "session_id": top_up.session_id,
                "amount_usd": format_usd(top_up.amount_usd),
            }
        )


class TransactionListView(APIView):
    @extend_schema(
        parameters=PAGE_PARAMETERS,
        responses=page_of(TransactionSerializer),
        summary="The ledger, newest first",
    )
    def get(self, request):
        return paginated_response(
            request,
            selectors.ledger_of(acting_membership(request).organization),
            ordering=("-created_at", "-id"),
            serializer_class=TransactionSerializer,
        )


class StripeWebhookView(APIView):
    """Stripe calls this; only events carrying Stripe's signature are read."""

    authentication_classes: list = []
    permission_classes = [AllowAny]
    throttle_classes: list = []

    @extend_schema(
        request=None,
        # 400: no valid Stripe signature; 503: webhooks are not configured.
        responses={200: WebhookReceivedSerializer, **errors(503)},
        summary="Stripe's webhook (Stripe-signed events only)",
    )
    def post(self, request):
        result = services.stripe_event_handle(
            payload=request.body, signature=request.headers.get("Stripe-Signature")
        )
        return Response({"received": True, "result": result})
