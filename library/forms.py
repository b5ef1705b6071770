from django import forms
from django.utils.translation import gettext_lazy as _

from gateway.models import Region

MAX_IDS = 4
MIN_IDS = 2

CAPABILITIES = [
    ("tools", _("Tools")),
    ("vision", _("Vision")),
    ("json_mode", _("JSON mode")),
    ("reasoning", _("Reasoning")),
]
CONTEXTS = [
    ("", _("Any context")),
    (16_000, _("16K tokens or more")),
    (32_000, _("32K tokens or more")),
    (64_000, _("64K tokens or more")),
    (128_000, _("128K tokens or more")),
    (200_000, _("200K tokens or more")),
    (1_000_000, _("1M tokens or more")),
]
SORTS = [
    ("name", _("Name")),
    ("price", _("Price: lowest first")),
    ("price_high", _("Price: highest first")),
    ("context", _("Context: longest first")),
    ("rating", _("Rating: best first")),
]


class ModelFilterForm(forms.Form):
    """The library's search, filters and order, read from the query string. A value that does not fit
    is an error on its field, said beside it, and that field is left out; the others still apply."""

    q = forms.CharField(
        label=_("Search"),
        required=False,
        max_length=100,
        widget=forms.TextInput(
            attrs={"type": "search", "placeholder": _("Name, id or provider"), "autocomplete": "off"}
        ),
    )
    provider = forms.ChoiceField(label=_("Provider"), required=False)
    region = forms.ChoiceField(
        label=_("Region"), required=False, choices=[("", _("Every region")), *Region.choices]
    )
    min_context = forms.TypedChoiceField(
        label=_("Context"), required=False, choices=CONTEXTS, coerce=int, empty_value=None
    )
    capability = forms.MultipleChoiceField(
        label=_("Accepts"), required=False, choices=CAPABILITIES, widget=forms.CheckboxSelectMultiple
    )
    available = forms.BooleanField(label=_("Served now"), required=False)
    sort = forms.ChoiceField(label=_("Sort by"), required=False, choices=SORTS)

    def __init__(self, data=None, *, providers: dict[str, str]):
        super().__init__(data, label_suffix="")
        choices = sorted(providers.items(), key=lambda item: item[1].casefold())
        self.fields["provider"].choices = [("", _("Every provider")), *choices]
        for name in ("provider", "region", "min_context", "capability"):
            self.fields[name].error_messages["invalid_choice"] = _(
                "“%(value)s” is not one of the choices; showing every model for this filter."
            )
        self.fields["sort"].error_messages["invalid_choice"] = _(
            "“%(value)s” is not a way to sort; sorted by name."
        )

    def filters(self) -> dict:
        """The arguments of library.selectors.models_filtered: every field that validated."""
        self.is_valid()
        data = self.cleaned_data
        return {
            "query": data.get("q") or "",
            "provider": data.get("provider") or "",
            "region": data.get("region") or "",
            "capabilities": tuple(data.get("capability") or ()),
            "min_context": data.get("min_context"),
            "available_only": bool(data.get("available")),
            "sort": data.get("sort") or "name",
        }

    @property
    def active(self) -> bool:
        filters = self.filters()
        return any(value for name, value in filters.items() if name != "sort")

    @property
    def more_active(self) -> bool:
        """Whether a filter other than the search is in use (the phone layout shows them then)."""
        filters = self.filters()
        return any(value for name, value in filters.items() if name not in ("sort", "query"))


def compared_ids(query) -> list[str]:
    """The model ids of ``?ids=a,b,c`` (or ``ids=a&ids=b``, as the list page's checkboxes send them),
    in order, each once."""
    ids = []
    for value in query.getlist("ids"):
        for model_id in value.split(","):
            model_id = model_id.strip()
            if model_id and model_id not in ids:
                ids.append(model_id)
    return ids
