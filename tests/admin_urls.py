"""Django admin's URL for an object, as the admin itself links to it.

The admin escapes the characters it reserves in a primary key, and `_` is its escape
character: `whd_5Djez…` read back as written would be `whd]jez…`, which exists nowhere.
So a test never writes an admin URL from an id by hand.
"""

from django.contrib.admin.utils import quote
from django.urls import reverse


def admin_url(obj, view="change"):
    meta = obj._meta
    return reverse(f"admin:{meta.app_label}_{meta.model_name}_{view}", args=[quote(obj.pk)])
