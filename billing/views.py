import csv
import dataclasses
import uuid

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponseRedirect, QueryDict, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from apikeys.selectors import keys_visible_to
from core.errors import NotFound, PermissionDenied, ServiceError
from core.money import format_usd, format_usd_exact
from core.months import month_start
from core.pagination import paginate
from core.web import form_error_from_service, pager, service_error_response
from orgs.audit import client_ip
from orgs.permissions import Action, can
from orgs.selectors import active_membership, membership_get

from . import selectors, services, stripe_gateway
from .charts import METRICS, usage_chart
from .forms import LowBalanceForm, PlanChangeForm, PlanForm, TopUpForm
from .models import Plan, Tier, TopUp, UsageRecord

USAGE_PERIODS = (7, 30, 90)
PERIOD_CHOICES = {str(days) for days in USAGE_PERIODS}  # "²".isdigit() is true, int("²") fails


PAYMENTS_PER_PAGE = 10
USAGE_DAYS_PER_PAGE = 14


@login_required
def billing(request):
    return _billing_page(request, active_membership(request))


def _billing_page(
    request, membership, *, top_up_form=None, plan_form=None, low_balance_form=None, status: int = 200
):
    """The Billing page, with the forms given (bound, showing their errors) or fresh ones."""
    organization = membership.organization
    account = selectors.account_with_plan(organization)
    try:
        payments = paginate(
            selectors.payments_of(organization),
            ordering=("-created_at", "-id"),
            limit=PAYMENTS_PER_PAGE,
            cursor=request.GET.get("payments_cursor"),
        )
        usage_days = selectors.usage_days_page(
            organization, limit=USAGE_DAYS_PER_PAGE, cursor=request.GET.get("usage_cursor")
        )
    except ServiceError as error:
        return service_error_response(request, error, back_to="billing")
    plans = list(Plan.objects.all())
    if top_up_form is None:
        top_up_form = TopUpForm(initial={"idempotency_key": uuid.uuid4().hex})
    if plan_form is None:
        plan_form = PlanForm(plans=[plan for plan in plans if plan.id != account.plan_id])
    if low_balance_form is None:
        threshold = account.low_balance_threshold_usd
        threshold = "" if threshold is None else threshold  # 0.00 is a threshold too
        low_balance_form = LowBalanceForm(initial={"low_balance_threshold_usd": threshold})
    hint = selectors.upgrade_hint(organization)
    paid_this_month = account.plan_paid_month == month_start(selectors.today_utc())
    return render(
        request,
        "billing/billing.html",
        {
            "organization": organization,
            "account": account,
            "paid_this_month": account.plan_paid_usd if paid_this_month else None,
            "payments": payments,
            "payments_pager": pager(request, payments, cursor_param="payments_cursor"),
            "usage_days": usage_days,
            "usage_pager": pager(request, usage_days, cursor_param="usage_cursor"),
            "hint": hint,
            "hint_plan": next((plan for plan in plans if hint and plan.id == hint["recommend_plan"]), None),
            "can_manage": can(membership, Action.MANAGE_BILLING),
            "stripe_configured": stripe_gateway.configured(),
            "top_up_form": top_up_form,
            "plan_form": plan_form,
            "low_balance_form": low_balance_form,
            "plans": plans,
        },
        status=status,
    )


def _to_billing_page(request):
    """Where a GET on an address that only takes a form's POST goes (a reload, a pager link on a page
    shown again with errors): the Billing page, with the same query."""
    query = request.GET.urlencode()
    return redirect(reverse("billing") + (f"?{query}" if query else ""))


@require_http_methods(["GET", "POST"])
@login_required
def top_up(request):
    if request.method == "GET":
        return _to_billing_page(request)
    membership = active_membership(request)
    form = TopUpForm(request.POST)
    if form.is_valid():
        try:
            session = services.checkout_create(
                membership=membership, ip=client_ip(request), **form.cleaned_data
            )
        except (NotFound, PermissionDenied) as error:
            return service_error_response(request, error, back_to="billing")
        except ServiceError as error:
            if error.param == "idempotency_key":
                form = _top_up_form_with_new_key(
                    form,
                    _(
                        "This form already started a top-up of another amount. "
                        "Press “Top up with Stripe” again to pay this amount."
                    ),
                )
            else:
                form_error_from_service(form, error)
        else:
            return HttpResponseRedirect(session.checkout_url)
    elif "idempotency_key" in form.errors:
        form = _top_up_form_with_new_key(form, _("Please press “Top up with Stripe” again."))
    return _billing_page(request, membership, top_up_form=form, status=400)


def _top_up_form_with_new_key(form: TopUpForm, message: str) -> TopUpForm:
    """The amount as typed, a new idempotency key (the old one is used or missing), and why."""
    fresh = TopUpForm({"amount_usd": form.data.get("amount_usd", ""), "idempotency_key": uuid.uuid4().hex})
    fresh.is_valid()
    fresh.add_error("amount_usd" if "amount_usd" in fresh.cleaned_data else None, message)
    return fresh


@login_required
def top_up_finished(request, outcome):
    top_up = TopUp.objects.filter(
        organization=active_membership(request).organization,
        session_id=request.GET.get("session_id", "") or None,
    ).first()
    return render(request, "billing/top_up_finished.html", {"outcome": outcome, "top_up": top_up})


@require_http_methods(["GET", "POST"])
@login_required
def plan_change(request):
    """GET: what changing to the plan chosen on the Billing page charges and credits, to confirm.
    POST: the change, made only if that is still what it charges and credits."""
    if request.method == "GET":
        if "plan_id" not in request.GET:
            return redirect("billing")
        return _plan_change_page(request, active_membership(request), request.GET["plan_id"])
    form = PlanChangeForm(request.POST)
    if not form.is_valid():  # not the confirmation of amounts shown: show them
        plan_id = request.POST.get("plan_id", "")
        return _plan_change_page(request, active_membership(request), plan_id, status=400)
    # The organization the amounts were shown for, even if another was picked in the switcher since.
    membership = membership_get(user=request.user, organization_id=form.cleaned_data["organization_id"])
    if membership is None:
        raise Http404
    plan_id, charge, credit = (form.cleaned_data[name] for name in ("plan_id", "charge", "credit"))
    try:
        account = services.plan_change(
            membership=membership,
            plan_id=plan_id,
            expected_charge=charge,
            expected_credit=credit,
            expected_from=form.cleaned_data["from_plan_id"],
            ip=client_ip(request),
        )
    except services.QuoteChanged:
        return _plan_change_page(request, membership, plan_id, changed=True, status=409)
    except ServiceError as error:
        if isinstance(error, services.InsufficientBalance) or error.param == "plan_id":
            return _plan_change_page(request, membership, plan_id, status=error.status)
        return service_error_response(request, error, back_to="billing")
    values = {"plan": account.plan.name, "charge": format_usd(charge), "credit": format_usd(credit)}
    if charge and credit:
        message = _("You are on %(plan)s now: $%(charge)s charged, $%(credit)s credited back.")
    elif charge:
        message = _("You are on %(plan)s now: $%(charge)s charged.")
    elif credit:
        message = _("You are on %(plan)s now: $%(credit)s credited back.")
    else:
        message = _("You are on %(plan)s now.")
    messages.success(request, message % values)
    return redirect("billing")


def _plan_change_page(request, membership, plan_id, *, changed: bool = False, status: int = 200):
    """The confirmation page of a change to ``plan_id``; or, when there is no such change to make,
    the Billing page with the reason beside the plan."""
    plan_form = PlanForm({"plan_id": plan_id}, plans=Plan.objects.all())
    try:
        if not plan_form.is_valid():
            return _billing_page(request, membership, plan_form=plan_form, status=400)
        quote = selectors.plan_change_preview(
            membership=membership, plan_id=plan_form.cleaned_data["plan_id"]
        )
    except ServiceError as error:
        if error.param != "plan_id":
            return service_error_response(request, error, back_to="billing")
        form_error_from_service(plan_form, error)
        return _billing_page(request, membership, plan_form=plan_form, status=400)
    form = PlanChangeForm(
        initial={
            "from_plan_id": quote.current_plan.id,
            "plan_id": quote.plan.id,
            "organization_id": membership.organization_id,
            "charge": format_usd(quote.charge),
            "credit": format_usd(quote.credit),
        }
    )
    return render(
        request,
        "billing/plan_change.html",
        {"quote": quote, "form": form, "organization": membership.organization, "changed": changed},
        status=status,
    )


@require_http_methods(["GET", "POST"])
@login_required
def low_balance_alert(request):
    if request.method == "GET":
        return _to_billing_page(request)
    membership = active_membership(request)
    form = LowBalanceForm(request.POST)
    if form.is_valid():
        try:
            services.low_balance_threshold_set(
                membership=membership,
                ip=client_ip(request),
                amount=form.cleaned_data["low_balance_threshold_usd"].strip() or None,
            )
        except (NotFound, PermissionDenied) as error:
            return service_error_response(request, error, back_to="billing")
        except ServiceError as error:
            form_error_from_service(form, error)
        else:
            messages.success(request, _("Saved."))
            return redirect("billing")
    return _billing_page(request, membership, low_balance_form=form, status=400)


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


@dataclasses.dataclass(frozen=True)
class UsageFilters:
    """The Usage page's filters (and its CSV's): a period, a metric, and optionally one key or model.
    Read from the query string; a value that is not one of the choices falls back to the default."""

    days: int = 30
    metric: str = "cost"
    key_id: str | None = None
    model: str | None = None

    @classmethod
    def from_request(cls, request, *, keys: dict[str, str]) -> "UsageFilters":
        days = request.GET.get("days", "")
        metric = request.GET.get("metric", "")
        key_id = request.GET.get("key") or None
        model = (request.GET.get("model") or "").strip()[:128]
        return cls(
            days=int(days) if days in PERIOD_CHOICES else 30,
            metric=metric if metric in METRICS else "cost",
            key_id=key_id if key_id in keys else None,
            # Any other text is only compared for equality (a model with no usage shows zeros);
            # PostgreSQL's text cannot hold NUL, so a model named with one matches nothing anyway.
            model=model if model and "\x00" not in model else None,
        )

    def query(self, **changes) -> str:
        values = dataclasses.replace(self, **changes)
        query = QueryDict(mutable=True)
        query["days"] = str(values.days)
        query["metric"] = values.metric
        if values.key_id:
            query["key"] = values.key_id
        if values.model:
            query["model"] = values.model
        return query.urlencode()


def _usage_view(request):
    membership = active_membership(request)
    keys = dict(keys_visible_to(membership).order_by("name", "id").values_list("id", "name"))
    return membership.organization, keys, UsageFilters.from_request(request, keys=keys)


@login_required
def usage(request):
    organization, keys, view = _usage_view(request)
    narrowing = {"api_key_id": view.key_id, "model": view.model}
    usage = selectors.usage_by_day(organization, days=view.days, **narrowing)
    models = selectors.usage_models(organization, days=max(USAGE_PERIODS))
    if view.model and view.model not in models:
        models.append(view.model)
    by_model = selectors.usage_by_model(organization, days=view.days, **narrowing)
    for row in by_model:
        row["tier_label"] = Tier(row["tier"]).label
        row["query"] = view.query(model=row["model"])
    return render(
        request,
        "billing/usage.html",
        {
            "view": view,
            "periods": [(days, view.query(days=days)) for days in USAGE_PERIODS],
            "metrics": [(metric, label, view.query(metric=metric)) for metric, label in METRICS.items()],
            "keys": keys,
            "models": models,
            "usage": usage,
            "chart": usage_chart(usage["days"], metric=view.metric),
            "by_model": by_model,
            "tiers": [
                {"label": Tier(tier).label, "values": values}
                for tier, values in usage["totals"]["by_tier"].items()
            ],
            "csv_query": view.query(),
        },
    )


@login_required
def usage_csv(request):
    organization, _keys, view = _usage_view(request)
    usage = selectors.usage_by_day(organization, days=view.days, api_key_id=view.key_id, model=view.model)
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
    response["Content-Disposition"] = f'attachment; filename="nexevo-usage-{view.days}d.csv"'
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
