from django.contrib.admin.apps import AdminConfig


class NexevoAdminConfig(AdminConfig):
    """Django admin, on the site that requires staff and a verified second factor."""

    default_site = "core.admin_site.NexevoAdminSite"
