"""The Model library: public pages (no sign-in needed), like OpenRouter's /models. The list with its
search, filters and order, one model, and two to four side by side."""

from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import render
from django.utils.translation import gettext as _

from . import selectors
from .forms import MAX_IDS, MIN_IDS, ModelFilterForm, compared_ids

MODELS_PER_PAGE = 50


def model_list(request):
    library = selectors.library_for(request)
    form = ModelFilterForm(request.GET, providers=library.provider_names)
    models = selectors.models_filtered(library, **form.filters())
    page = Paginator(models, MODELS_PER_PAGE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "library/model_list.html",
        {
            "form": form,
            "library": library,
            "page": page,
            "query": query.urlencode(),
            "total": len(library.models),
            "nav_section": "models",
        },
    )


def model_detail(request, model_id: str):
    library = selectors.library_for(request)
    entry = next((entry for entry in library.models if entry.id == model_id), None)
    if entry is None:
        raise Http404(_("No model %(id)s is in the library.") % {"id": model_id})
    return render(
        request,
        "library/model_detail.html",
        {
            "library": library,
            "model": entry,
            "example_cost": selectors.example_costs(library, [entry])[entry.id],
            "example": _example(),
            "chat_url": request.build_absolute_uri("/v1/chat/completions"),
            "nav_section": "models",
        },
    )


def model_compare(request):
    library = selectors.library_for(request)
    ids = compared_ids(request.GET)
    by_id = {entry.id: entry for entry in library.models}
    unknown = [model_id for model_id in ids if model_id not in by_id]
    error = ""
    if unknown:
        error = _("Not in the library: %(ids)s.") % {"ids": ", ".join(unknown)}
    elif not MIN_IDS <= len(ids) <= MAX_IDS:
        error = _("Pick from %(min)d to %(max)d models to compare; %(count)d were picked.") % {
            "min": MIN_IDS,
            "max": MAX_IDS,
            "count": len(ids),
        }
    models = [] if error else [by_id[model_id] for model_id in ids]
    costs = selectors.example_costs(library, models) if models else {}
    return render(
        request,
        "library/model_compare.html",
        {
            "library": library,
            "models": [(entry, costs[entry.id]) for entry in models],
            "error": error,
            "example": _example(),
            "nav_section": "models",
        },
        status=400 if error else 200,
    )


def _example() -> dict:
    return {
        "requests": selectors.EXAMPLE_REQUESTS,
        "prompt_tokens": selectors.EXAMPLE_PROMPT_TOKENS,
        "completion_tokens": selectors.EXAMPLE_COMPLETION_TOKENS,
    }
