from django.apps import AppConfig


class GatewayConfig(AppConfig):
    name = "gateway"
    verbose_name = "Gateway"

    def ready(self):
        from django.contrib.auth import get_user_model

        from apikeys.auth_cache import keys_forgotten
        from apikeys.models import ApiKey
        from billing.models import BillingAccount, ModelPrice, Plan
        from orgs.models import Membership, Organization

        from . import hot
        from .models import GatewayModel, OrganizationProviderKey, PoolCandidate, Provider

        hot.watch(
            ApiKey,
            BillingAccount,
            Plan,
            ModelPrice,
            Organization,
            Membership,
            get_user_model(),
            Provider,
            GatewayModel,
            PoolCandidate,
            OrganizationProviderKey,
        )
        keys_forgotten.connect(_keys_forgotten, dispatch_uid="hot-keys-forgotten")


def _keys_forgotten(sender, key_hashes, **kwargs):
    """This process drops its snapshots; the others learn of it from a marker in Redis."""
    from django.db import transaction

    from . import admission, hot

    hot.clear_now_and_at_commit()
    admission.mark_keys_forgotten(key_hashes)
    transaction.on_commit(lambda: admission.mark_keys_forgotten(key_hashes))
