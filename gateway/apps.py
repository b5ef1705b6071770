from django.apps import AppConfig


class GatewayConfig(AppConfig):
    name = "gateway"
    verbose_name = "Gateway"

    def ready(self):
        from apikeys.auth_cache import keys_changed
        from billing.models import BillingAccount, ModelPrice, Plan

        from . import key_changes, snapshots
        from .models import GatewayModel, OrganizationProviderKey, PoolCandidate, Provider

        # What a save or delete in this process drops of the chat endpoint's snapshots (gateway.snapshots).
        # A key's snapshot (the key, its creator, organization and role) goes through key_changes:
        # apikeys.receivers sends keys_changed for every change of those, and other processes hear it.
        for model in (Provider, GatewayModel, PoolCandidate, ModelPrice):
            snapshots.watch(model, _catalog)
        snapshots.watch(OrganizationProviderKey, lambda own: [("provider_keys", own.organization_id)])
        snapshots.watch(BillingAccount, lambda account: [("account", account.organization_id)])
        snapshots.watch(Plan)  # every account may be on it: every snapshot (plans change rarely)
        keys_changed.connect(key_changes.keys_changed, dispatch_uid="gateway-key-changes")


def _catalog(instance) -> list:
    return ["catalog"]
