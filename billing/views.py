import csv
import uuid

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponseRedirect, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from core.errors import ServiceError
from core.money import format_usd, format_usd_exact
from core.pagination import paginate, parse_limit
from core.web import service_error_response
from orgs.audit import client_ip
from orgs.permissions import Action, can
from orgs.selectors import active_membership

from . import selectors, services, stripe_gateway
from .charts import stacked_bars
from .forms import LowBalanceForm, PlanForm, TopUpForm
from .models import Plan, TopUp, UsageRecord

USAGE_PERIODS = (7, 30, 90)


@login_required
def billing(request):
    membership = active_membership(request)
    organization = membership.organization
    account = selectors.account_with_plan(organization)
    try:
        page = paginate(
            selectors.ledger_of(organization),
            ordering=("-created_at", "-id"),
            limit=parse_limit(request.GET.get("limit"), default=25),
            cursor=request.GET.get("cursor"),
        )
    except ServiceError as error:
        return service_error_response(request, error, back_to="billing")
    plans = list(Plan.objects.all())
    return render(
        request,
        "billing/billing.html",
        {
            "account": account,
            "balance": format_usd(account.balance_usd),
            "page": page,
            "hint": selectors.upgrade_hint(organization),
            "can_manage": can(membership, Action.MANAGE_BILLING),
            "stripe_configured": stripe_gateway.configured(),
            "top_up_form": TopUpForm(initial={"idempotency_key": uuid.uuid4().hex}),
            "plan_form": PlanForm(plans=plans, initial={"plan_id": account.plan_id}),
            "low_balance_form": LowBalanceForm(
                initial={"low_balance_threshold_usd": account.low_balance_threshold_usd or ""}
            ),
            "plans": plans,
            "minimum": services.TOP_UP_MINIMUM,
        },
    )


@require_POST
@login_required
def top_up(request):
    form = TopUpForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Enter an amount."))
        return redirect("billing")
    try:
        session = services.checkout_create(
            membership=active_membership(request), ip=client_ip(request), **form.cleaned_data
        )
    except ServiceError as error:
        return service_error_response(request, error, back_to="billing")
    return HttpResponseRedirect(session.checkout_url)


@login_required
def top_up_finished(request, outcome):
    top_up = TopUp.objects.filter(
        organization=active_membership(request).organization,
        session_id=request.GET.get("session_id", "") or None,
    ).first()
    return render(request, "billing/top_up_finished.html", {"outcome": outcome, "top_up": top_up})


@require_POST
@login_required
def plan_change(request):
    membership = active_membership(request)
    form = PlanForm(request.POST, plans=Plan.objects.all())
    if form.is_valid():
        try:
            account = services.plan_change(
                membership=membership, plan_id=form.cleaned_data["plan_id"], ip=client_ip(request)
            )
        except ServiceError as error:
            return service_error_response(request, error, back_to="billing")
        messages.success(request, _("You are on %(plan)s now.") % {"plan": account.plan.name})
    return redirect("billing")


@require_POST
@login_required
def low_balance_alert(request):
    form = LowBalanceForm(request.POST)
    if form.is_valid():
        try:
            services.low_balance_threshold_set(
                membership=active_membership(request),
                ip=client_ip(request),
                amount=form.cleaned_data["low_balance_threshold_usd"].strip() or None,
            )
        except ServiceError as error:
            return service_error_response(request, error, back_to="billing")
        messages.success(request, _("Saved."))
    return redirect("billing")


class _Echo:
    def write(self, value):
        return value


@login_required
def transactions_csv(request):
    entries = selectors.ledger_of(active_membership(request).organization).order_by("created_at", "id")
    writer = csv.writer(_Echo())
    rows = (
        writer.writerow(
            [
                entry.created_at.isoformat(),
                entry.id,
                entry.kind,
                format_usd_exact(entry.amount_usd),
                entry.reference,
                entry.description,
            ]
        )
        for entry in entries.iterator()
    )
    header = iter([writer.writerow(["time_utc", "txn_id", "kind", "amount_usd", "reference", "description"])])
    response = StreamingHttpResponse(
        (line for part in (header, rows) for line in part), content_type="text/csv"
    )
    response["Content-Disposition"] = 'attachment; filename="nexevo-transactions.csv"'
    return response


def _period(request) -> int:
    raw = request.GET.get("days", "30")
    return int(raw) if raw.isdigit() and int(raw) in USAGE_PERIODS else 30


@login_required
def usage(request):
    organization = active_membership(request).organization
    days = _period(request)
    usage = selectors.usage_by_day(organization, days=days)
    return render(
        request,
        "billing/usage.html",
        {
            "days": days,
            "periods": USAGE_PERIODS,
            "usage": usage,
            "chart": stacked_bars(usage["days"]),
            "by_model": selectors.usage_by_model(organization, days=days),
        },
    )


@login_required
def usage_csv(request):
    days = _period(request)
    usage = selectors.usage_by_day(active_membership(request).organization, days=days)
    writer = csv.writer(_Echo())
    lines = [writer.writerow(["date", "tier", "requests", "prompt_tokens", "completion_tokens", "cost_usd"])]
    for day in usage["days"]:
        for tier, values in day["by_tier"].items():
            lines.append(
                writer.writerow(
                    [
                        day["date"].isoformat(),
                        tier,
                        values["requests"],
                        values["prompt_tokens"],
                        values["completion_tokens"],
                        format_usd_exact(values["cost_usd"]),
                    ]
                )
            )
    response = StreamingHttpResponse(iter(lines), content_type="text/csv")
    response["Content-Disposition"] = f'attachment; filename="nexevo-usage-{days}d.csv"'
    return response


@login_required
def generation_detail(request, generation_id):
    """One generation: what served it, its tokens and cost, and the feedback on it."""
    generation = (
        UsageRecord.objects.filter(organization=active_membership(request).organization, id=generation_id)
        .select_related("api_key", "user")
        .first()
    )
    if generation is None:
        raise Http404
    return render(
        request,
        "billing/generation.html",
        {
            "generation": generation,
            "feedback": generation.feedback.select_related("user").order_by("-updated_at"),
        },
    )
