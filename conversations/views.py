from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _

from core.errors import NotFound, ServiceError
from core.pagination import paginate
from core.web import service_error_response
from orgs.selectors import active_membership

from . import selectors, services
from .models import Role

PAGE_SIZE = 25
THREAD_PAGE_SIZE = 50


def _conversation_or_404(request, conversation_id):
    try:
        return selectors.conversation_get(active_membership(request).organization, conversation_id)
    except NotFound:
        raise Http404 from None


@login_required
def conversation_list(request):
    organization = active_membership(request).organization
    search = request.GET.get("q", "").strip()[:200]
    key, value = request.GET.get("key", "").strip(), request.GET.get("value", "").strip()
    try:
        conversations = selectors.conversations_of(
            organization, title_search=search, metadata_filters={key: value} if key else None
        )
        page = paginate(
            conversations, ordering=("-updated_at", "-id"), limit=PAGE_SIZE, cursor=request.GET.get("cursor")
        )
    except ServiceError as error:
        messages.error(request, error.message)
        return redirect("conversation_list")
    return render(request, "conversations/list.html", {"page": page, "q": search, "key": key, "value": value})


@login_required
def conversation_thread(request, conversation_id):
    conversation = _conversation_or_404(request, conversation_id)
    try:
        page = paginate(
            selectors.messages_of(conversation),
            ordering=("seq",),
            limit=THREAD_PAGE_SIZE,
            cursor=request.GET.get("cursor"),
        )
    except ServiceError:
        raise Http404 from None
    return render(
        request, "conversations/thread.html", {"conversation": conversation, "page": page, "tool": Role.TOOL}
    )


@login_required
def conversation_rename(request, conversation_id):
    conversation = _conversation_or_404(request, conversation_id)
    if request.method == "POST":
        try:
            services.conversation_update(
                organization=conversation.organization,
                conversation_id=conversation.id,
                title=request.POST.get("title", ""),
            )
        except ServiceError as error:
            return service_error_response(
                request, error, back_to="conversation_thread", conversation_id=conversation.id
            )
        messages.success(request, _("Renamed."))
    return redirect("conversation_thread", conversation_id=conversation.id)


@login_required
def conversation_delete(request, conversation_id):
    conversation = _conversation_or_404(request, conversation_id)
    if request.method == "POST":
        services.conversation_delete(organization=conversation.organization, conversation_id=conversation.id)
        messages.success(request, _("Conversation deleted."))
        return redirect("conversation_list")
    return render(request, "conversations/delete_confirm.html", {"conversation": conversation})
