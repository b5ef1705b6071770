import base64
import secrets
from datetime import timedelta
from decimal import Decimal

from django.db import transaction
from django.db.models import OuterRef, Q, Subquery
from django.utils import timezone
from django.utils.translation import gettext as _

from core.errors import PermissionDenied, ServiceError
from core.money import CENTS, MoneyError, format_usd, parse_usd
from core.netsafety import UnsafeUrl, check_webhook_url
from orgs.audit import audit_record
from orgs.models import Membership
from orgs.permissions import Action, can

from . import auth_cache, tokens
from .models import ApiKey, RoutingPolicy
from .selectors import plan_rate_limits

NAME_MAX_LENGTH = 100
MAX_SPEND_CAP = Decimal("1000000.00")
MAX_ALERT_THRESHOLDS = 5
WEBHOOK_SECRET_BYTES = 24
# last_used_at is a hint for people, not an audit record: one write a minute per key at most.
LAST_USED_RESOLUTION = timedelta(minutes=1)


class InvalidApiKey(Exception):
    """Malformed, unknown or revoked: the caller is told nothing more specific."""


class ExpiredApiKey(InvalidApiKey):
    """A real key past its ``expires_at``: the caller is told so, to know to replace it."""


def _clean_name(name) -> str:
    if not isinstance(name, str) or not name.strip():
        raise ServiceError(_("Give the key a name."), code="invalid_name", param="name")
    name = name.strip()
    if len(name) > NAME_MAX_LENGTH:
        raise ServiceError(
            _("A key name has at most %(max)d characters.") % {"max": NAME_MAX_LENGTH},
            code="invalid_name",
            param="name",
        )
    return name


def _clean_cap(value) -> Decimal | None:
    if value is None:
        return None
    try:
        return parse_usd(value, places=CENTS, maximum=MAX_SPEND_CAP)
    except MoneyError as error:
        raise ServiceError(
            _(
                "monthly_spend_cap_usd must be a positive amount with at most 2 decimals, "
                'like "100.00". %(why)s'
            )
            % {"why": error.message},
            code="invalid_spend_cap",
            param="monthly_spend_cap_usd",
        ) from None


RATE_LIMIT_FIELDS = ("requests_per_minute", "tokens_per_minute")
# A key's limits: its monthly spend cap and its rate limits. Set by an owner or admin, they lock.
LIMIT_FIELDS = ("monthly_spend_cap_usd", *RATE_LIMIT_FIELDS)


def _clean_rate_limit(value, *, field: str, organization) -> int | None:
    """A key's own limit per minute: a whole number from 1 to its plan's, or None for the plan's."""
    if value is None:
        return None
    ceiling = plan_rate_limits(organization=organization)[field]
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= ceiling:
        raise ServiceError(
            _(
                "%(field)s must be a whole number from 1 to %(max)d (your plan's limit per key), "
                "or null for the plan's."
            )
            % {"field": field, "max": ceiling},
            code="invalid_rate_limit",
            param=field,
        )
    return value


def _clean_lock(locked) -> bool:
    if not isinstance(locked, bool):
        raise ServiceError(
            _("limits_locked must be true or false."), code="invalid_lock", param="limits_locked"
        )
    return locked


def _may_lock_limits(actor, organization) -> bool:
    """Whether ``actor``'s role in ``organization`` lets them lock limits and change locked ones."""
    membership = Membership.objects.filter(organization=organization, user=actor).first()
    return can(membership, Action.LOCK_KEY_LIMITS)


def _refuse_locked(api_key: ApiKey, *, param: str):
    who = api_key.limits_set_by
    if who is not None and api_key.limits_set_at is not None:
        message = _(
            "%(who)s locked this key's spend cap and rate limits on %(when)s: only an owner or admin "
            "can change them."
        ) % {"who": who.full_name or who.email, "when": api_key.limits_set_at.strftime("%Y-%m-%d")}
    else:
        message = _(
            "This key's spend cap and rate limits are locked: only an owner or admin can change them."
        )
    raise PermissionDenied(message, code="limits_locked", param=param)


def _require_cap(organization, cap) -> None:
    if cap is None and organization.require_key_cap:
        raise ServiceError(
            _(
                "%(organization)s requires a monthly spend cap on every key: set "
                'monthly_spend_cap_usd, like "100.00".'
            )
            % {"organization": organization.name},
            code="spend_cap_required",
            param="monthly_spend_cap_usd",
        )


def _clean_webhook_url(url) -> str:
    if url is None or url == "":
        return ""
    try:
        return check_webhook_url(url).url
    except UnsafeUrl as error:
        raise ServiceError(error.message, code=error.code, param="alert_webhook_url") from None


def _clean_routing_policy(policy) -> str:
    if policy not in RoutingPolicy.values:
        raise ServiceError(
            _("routing_policy must be one of: %(choices)s.") % {"choices": ", ".join(RoutingPolicy.values)},
            code="invalid_routing_policy",
            param="routing_policy",
        )
    return policy


def _clean_thresholds(thresholds) -> list[int]:
    valid = (
        isinstance(thresholds, list)
        and 1 <= len(thresholds) <= MAX_ALERT_THRESHOLDS
        and all(isinstance(t, int) and not isinstance(t, bool) and 1 <= t <= 100 for t in thresholds)
    )
    if not valid:
        raise ServiceError(
            _("alert_thresholds_pct must be a list of 1 to %(max)d whole percentages from 1 to 100.")
            % {"max": MAX_ALERT_THRESHOLDS},
            code="invalid_alert_thresholds",
            param="alert_thresholds_pct",
        )
    return sorted(set(thresholds))


def _clean_expiry(expires_at):
    if expires_at is not None and expires_at <= timezone.now():
        raise ServiceError(_("expires_at must be in the future."), code="invalid_expiry", param="expires_at")
    return expires_at


def new_webhook_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(WEBHOOK_SECRET_BYTES)).decode()


@transaction.atomic
def key_create(
    *,
    organization,
    created_by,
    name: str,
    monthly_spend_cap_usd=None,
    alert_webhook_url=None,
    routing_policy: str = RoutingPolicy.ANY,
    alert_thresholds_pct=None,
    expires_at=None,
    requests_per_minute: int | None = None,
    tokens_per_minute: int | None = None,
    limits_locked: bool | None = None,
    ip: str | None = None,
) -> tuple[ApiKey, str]:
    """Creates a key and returns it with the full secret, which is never available again.

    Limits (a cap, rate limits) given by an owner or admin are locked, unless ``limits_locked`` is
    False; a developer cannot lock them (403). Where the organization requires a cap, a key without
    one is refused (400 ``spend_cap_required``).
    """
    name = _clean_name(name)
    cap = _clean_cap(monthly_spend_cap_usd)
    _require_cap(organization, cap)
    rate_limits = {
        field: _clean_rate_limit(value, field=field, organization=organization)
        for field, value in zip(RATE_LIMIT_FIELDS, (requests_per_minute, tokens_per_minute), strict=True)
    }
    if limits_locked is not None:
        _clean_lock(limits_locked)
    may_lock = _may_lock_limits(created_by, organization)
    if limits_locked and not may_lock:
        raise PermissionDenied(
            _("Only owners and admins can lock a key's limits."), code="limits_locked", param="limits_locked"
        )
    limits_given = cap is not None or any(value is not None for value in rate_limits.values())
    if limits_locked is None:
        limits_locked = limits_given and may_lock
    limits_set = limits_given or limits_locked
    webhook_url = _clean_webhook_url(alert_webhook_url)
    routing_policy = _clean_routing_policy(routing_policy)
    thresholds = _clean_thresholds(alert_thresholds_pct) if alert_thresholds_pct is not None else [80, 100]
    expires_at = _clean_expiry(expires_at)
    full_key = tokens.generate()
    prefix, last_four = tokens.display_parts(full_key)
    api_key = ApiKey.objects.create(
        organization=organization,
        created_by=created_by,
        name=name,
        key_hash=tokens.hash_key(full_key),
        prefix=prefix,
        last_four=last_four,
        monthly_spend_cap_usd=cap,
        alert_webhook_url=webhook_url,
        webhook_secret=new_webhook_secret() if webhook_url else "",
        routing_policy=routing_policy,
        alert_thresholds_pct=thresholds,
        expires_at=expires_at,
        **rate_limits,
        limits_set_by=created_by if limits_set else None,
        limits_set_at=timezone.now() if limits_set else None,
        limits_locked=limits_locked,
    )
    audit_record(organization=organization, actor=created_by, action="key.created", target=api_key, ip=ip)
    return api_key, full_key


def _locked(api_key: ApiKey) -> ApiKey:
    """The key, locked for a change; a revoked or expired key stays as it is."""
    api_key = (
        # The key's row only (of=): the organization is locked before keys everywhere else.
        ApiKey.objects.select_for_update(of=("self",))
        .select_related("organization", "created_by", "limits_set_by")
        .get(pk=api_key.pk)
    )
    if api_key.status != "active":
        raise ServiceError(
            _("This key is %(status)s and cannot be changed. Create a new key instead.")
            % {"status": api_key.status},
            code="key_not_active",
            status=409,
        )
    return api_key


def _changed(api_key: ApiKey, *, actor, action: str, ip, metadata: dict) -> None:
    audit_record(
        organization=api_key.organization,
        actor=actor,
        action=action,
        target=api_key,
        ip=ip,
        metadata=metadata,
    )


@transaction.atomic
def key_rename(*, api_key: ApiKey, name: str, actor, ip: str | None = None) -> ApiKey:
    return _set(api_key, field="name", value=_clean_name(name), action="key.renamed", actor=actor, ip=ip)


@transaction.atomic
def key_update_spend_cap(*, api_key: ApiKey, cap=None, clear: bool = False, actor, ip=None) -> ApiKey:
    """Sets the monthly cap (a positive amount, 2 decimals at most) or, with ``clear``, removes it."""
    if clear == (cap is not None):
        raise ServiceError(
            _("Send either monthly_spend_cap_usd or clear=true, not both and not neither."),
            code="invalid_spend_cap_request",
            param="monthly_spend_cap_usd",
        )
    return key_update_limits(
        api_key=api_key, actor=actor, ip=ip, monthly_spend_cap_usd=None if clear else cap
    )


UNCHANGED = object()


def _limits_differ(api_key: ApiKey, wanted: dict, limits_locked) -> bool:
    if limits_locked is not UNCHANGED and limits_locked != api_key.limits_locked:
        return True
    return any(getattr(api_key, field) != value for field, value in wanted.items())


@transaction.atomic
def key_update_limits(
    *,
    api_key: ApiKey,
    actor,
    ip=None,
    monthly_spend_cap_usd=UNCHANGED,
    requests_per_minute=UNCHANGED,
    tokens_per_minute=UNCHANGED,
    limits_locked=UNCHANGED,
) -> ApiKey:
    """Sets the key's limits that are given and differ: the monthly cap (None: no cap) and the rate
    limits (None: the plan's), and records who set them and when.

    Limits an owner or admin sets are locked, unless ``limits_locked=False`` comes with them; an
    owner or admin may also lock or unlock them alone. Locked limits, and the lock itself, are for
    owners and admins only: anyone else gets 403 ``limits_locked``. Where the organization requires
    a cap, it cannot be removed.
    """
    wanted = {}
    if monthly_spend_cap_usd is not UNCHANGED:
        wanted["monthly_spend_cap_usd"] = _clean_cap(monthly_spend_cap_usd)
    for field, value in zip(RATE_LIMIT_FIELDS, (requests_per_minute, tokens_per_minute), strict=True):
        if value is not UNCHANGED:
            wanted[field] = _clean_rate_limit(value, field=field, organization=api_key.organization)
    if limits_locked is not UNCHANGED:
        _clean_lock(limits_locked)
    if not _limits_differ(api_key, wanted, limits_locked):
        return api_key
    api_key = _locked(api_key)
    changed = {field: value for field, value in wanted.items() if getattr(api_key, field) != value}
    lock_changes = limits_locked is not UNCHANGED and limits_locked != api_key.limits_locked
    if not changed and not lock_changes:  # changed meanwhile to what was asked
        return api_key
    may_lock = _may_lock_limits(actor, api_key.organization)
    if not may_lock:
        if lock_changes:
            raise PermissionDenied(
                _("Only owners and admins can lock or unlock a key's limits."),
                code="limits_locked",
                param="limits_locked",
            )
        if api_key.limits_locked:
            _refuse_locked(api_key, param=next(iter(changed)))
    if "monthly_spend_cap_usd" in changed:
        _require_cap(api_key.organization, changed["monthly_spend_cap_usd"])
    was_locked = api_key.limits_locked
    old = {field: getattr(api_key, field) for field in LIMIT_FIELDS}
    for field, value in changed.items():
        setattr(api_key, field, value)
    if limits_locked is not UNCHANGED:
        api_key.limits_locked = limits_locked
    elif may_lock:
        api_key.limits_locked = True
    api_key.limits_set_by = actor
    api_key.limits_set_at = timezone.now()
    api_key.save(update_fields=[*changed, "limits_locked", "limits_set_by", "limits_set_at"])
    if "monthly_spend_cap_usd" in changed:
        _changed(
            api_key,
            actor=actor,
            action="key.spend_cap_changed",
            ip=ip,
            metadata={
                "from": _money_or_none(old["monthly_spend_cap_usd"]),
                "to": _money_or_none(api_key.monthly_spend_cap_usd),
            },
        )
    if changed.keys() & set(RATE_LIMIT_FIELDS):
        _changed(
            api_key,
            actor=actor,
            action="key.rate_limits_changed",
            ip=ip,
            metadata={
                "from": {field: old[field] for field in RATE_LIMIT_FIELDS},
                "to": {field: getattr(api_key, field) for field in RATE_LIMIT_FIELDS},
            },
        )
    if api_key.limits_locked != was_locked:
        action = "key.limits_locked" if api_key.limits_locked else "key.limits_unlocked"
        _changed(api_key, actor=actor, action=action, ip=ip, metadata={})
    return api_key


def _money_or_none(amount) -> str | None:
    return format_usd(amount) if amount is not None else None


@transaction.atomic
def key_update_alert_webhook(*, api_key: ApiKey, url, actor, ip=None) -> ApiKey:
    """Sets (HTTPS, public hosts only) or, with ``url=None``, clears the alert webhook.

    Setting the first webhook creates the signing secret; changing the address keeps it.
    """
    new_url = _clean_webhook_url(url)
    api_key = _locked(api_key)
    old = api_key.alert_webhook_url
    api_key.alert_webhook_url = new_url
    if new_url and not api_key.webhook_secret:
        api_key.webhook_secret = new_webhook_secret()
    api_key.save(update_fields=["alert_webhook_url", "webhook_secret"])
    _changed(api_key, actor=actor, action="key.webhook_changed", ip=ip, metadata={"from": old, "to": new_url})
    return api_key


@transaction.atomic
def key_rotate_webhook_secret(*, api_key: ApiKey, actor, ip=None) -> ApiKey:
    api_key = _locked(api_key)
    if not api_key.alert_webhook_url:
        raise ServiceError(_("Set a webhook first."), code="no_webhook")
    api_key.previous_webhook_secret = api_key.webhook_secret
    api_key.webhook_secret = new_webhook_secret()
    api_key.webhook_secret_rotated_at = timezone.now()
    api_key.save(update_fields=["previous_webhook_secret", "webhook_secret", "webhook_secret_rotated_at"])
    _changed(api_key, actor=actor, action="key.webhook_secret_rotated", ip=ip, metadata={})
    return api_key


def _set(api_key: ApiKey, *, field: str, value, action: str, actor, ip, shown=lambda value: value) -> ApiKey:
    """Locks the key, sets one setting and records the change with its old and new value."""
    api_key = _locked(api_key)
    old = getattr(api_key, field)
    setattr(api_key, field, value)
    api_key.save(update_fields=[field])
    _changed(api_key, actor=actor, action=action, ip=ip, metadata={"from": shown(old), "to": shown(value)})
    return api_key


@transaction.atomic
def key_update_routing_policy(*, api_key: ApiKey, routing_policy, actor, ip=None) -> ApiKey:
    return _set(
        api_key,
        field="routing_policy",
        value=_clean_routing_policy(routing_policy),
        action="key.routing_policy_changed",
        actor=actor,
        ip=ip,
    )


@transaction.atomic
def key_update_alert_thresholds(*, api_key: ApiKey, thresholds, actor, ip=None) -> ApiKey:
    return _set(
        api_key,
        field="alert_thresholds_pct",
        value=_clean_thresholds(thresholds),
        action="key.alert_thresholds_changed",
        actor=actor,
        ip=ip,
    )


@transaction.atomic
def key_update_expiry(*, api_key: ApiKey, expires_at, actor, ip=None) -> ApiKey:
    return _set(
        api_key,
        field="expires_at",
        value=_clean_expiry(expires_at),
        action="key.expiry_changed",
        actor=actor,
        ip=ip,
        shown=lambda moment: moment.isoformat() if moment else None,
    )


@transaction.atomic
def key_update(
    *,
    api_key: ApiKey,
    actor,
    ip=None,
    name=UNCHANGED,
    monthly_spend_cap_usd=UNCHANGED,
    alert_webhook_url=UNCHANGED,
    routing_policy=UNCHANGED,
    alert_thresholds_pct=UNCHANGED,
    expires_at=UNCHANGED,
    requests_per_minute=UNCHANGED,
    tokens_per_minute=UNCHANGED,
    limits_locked=UNCHANGED,
) -> ApiKey:
    """Applies the settings that are given and differ, each as its own audited change, all or none.

    Every value is checked (the webhook address resolved) before anything is locked or written; the
    limits (cap, rate limits, their lock) go through ``key_update_limits`` and its rules.
    """
    if name is not UNCHANGED:
        _clean_name(name)
    if monthly_spend_cap_usd is not UNCHANGED:
        _clean_cap(monthly_spend_cap_usd)
    for field, value in zip(RATE_LIMIT_FIELDS, (requests_per_minute, tokens_per_minute), strict=True):
        if value is not UNCHANGED:
            _clean_rate_limit(value, field=field, organization=api_key.organization)
    if limits_locked is not UNCHANGED:
        _clean_lock(limits_locked)
    if alert_webhook_url is not UNCHANGED:
        _clean_webhook_url(alert_webhook_url)
    if routing_policy is not UNCHANGED:
        _clean_routing_policy(routing_policy)
    if alert_thresholds_pct is not UNCHANGED:
        _clean_thresholds(alert_thresholds_pct)
    if expires_at is not UNCHANGED:
        _clean_expiry(expires_at)
    context = {"actor": actor, "ip": ip}
    api_key = key_update_limits(
        api_key=api_key,
        monthly_spend_cap_usd=monthly_spend_cap_usd,
        requests_per_minute=requests_per_minute,
        tokens_per_minute=tokens_per_minute,
        limits_locked=limits_locked,
        **context,
    )
    if name is not UNCHANGED and name != api_key.name:
        api_key = key_rename(api_key=api_key, name=name, **context)
    if alert_webhook_url is not UNCHANGED and (alert_webhook_url or "") != api_key.alert_webhook_url:
        api_key = key_update_alert_webhook(api_key=api_key, url=alert_webhook_url, **context)
    if routing_policy is not UNCHANGED and routing_policy != api_key.routing_policy:
        api_key = key_update_routing_policy(api_key=api_key, routing_policy=routing_policy, **context)
    if alert_thresholds_pct is not UNCHANGED and alert_thresholds_pct != api_key.alert_thresholds_pct:
        api_key = key_update_alert_thresholds(api_key=api_key, thresholds=alert_thresholds_pct, **context)
    if expires_at is not UNCHANGED and expires_at != api_key.expires_at:
        api_key = key_update_expiry(api_key=api_key, expires_at=expires_at, **context)
    return api_key


@transaction.atomic
def key_revoke(*, api_key: ApiKey, actor, ip: str | None = None) -> ApiKey:
    """Revokes the key; revoking a revoked key changes nothing."""
    revoked = _revoke_all(ApiKey.objects.filter(pk=api_key.pk, revoked_at__isnull=True))
    api_key.refresh_from_db(fields=["revoked_at"])
    if revoked:
        audit_record(
            organization=api_key.organization, actor=actor, action="key.revoked", target=api_key, ip=ip
        )
    return api_key


def keys_revoke_created_by(*, user, organization=None) -> int:
    keys = ApiKey.objects.filter(created_by=user, revoked_at__isnull=True)
    if organization is not None:
        keys = keys.filter(organization=organization)
    return _revoke_all(keys)


def _revoke_all(keys) -> int:
    hashes = list(keys.values_list("key_hash", flat=True))
    revoked = keys.update(revoked_at=timezone.now())
    auth_cache.forget(hashes)
    return revoked


def keys_revoke_of_organization(*, organization) -> int:
    return _revoke_all(ApiKey.objects.filter(organization=organization, revoked_at__isnull=True))


def key_authenticate(raw_key: str) -> ApiKey:
    """The key behind a Bearer token: one SHA-256, then the cache or one indexed query.

    The query joins the creator and the organization and reads the creator's current role there
    (``member_role``), so a key stops working the moment its creator leaves, and a role change
    applies to the very next request (every such change forgets the cached entry).
    """
    if not tokens.is_well_formed(raw_key):
        raise InvalidApiKey
    return key_authenticate_hash(tokens.hash_key(raw_key))


def key_authenticate_hash(key_hash: str) -> ApiKey:
    """``key_authenticate`` for a key known by its hash: what gateway.snapshots reloads a key it keeps with,
    so that it never holds the key itself."""
    api_key = auth_cache.cached(key_hash)
    if api_key is None:
        role = Membership.objects.filter(organization=OuterRef("organization"), user=OuterRef("created_by"))
        api_key = (
            ApiKey.objects.select_related("created_by", "organization")
            .annotate(member_role=Subquery(role.values("role")[:1]))
            .filter(key_hash=key_hash)
            .first()
        )
        if api_key is None:
            raise InvalidApiKey
        auth_cache.remember(api_key)
    if api_key.revoked_at is not None or not api_key.created_by.is_active or api_key.member_role is None:
        raise InvalidApiKey
    if api_key.is_expired():
        raise ExpiredApiKey
    _touch_last_used(api_key)
    return api_key


def _touch_last_used(api_key: ApiKey) -> None:
    if auth_cache.last_use_recorded_recently(api_key.pk):
        return
    now = timezone.now()
    ApiKey.objects.filter(pk=api_key.pk).filter(
        Q(last_used_at__isnull=True) | Q(last_used_at__lt=now - LAST_USED_RESOLUTION)
    ).update(last_used_at=now)
