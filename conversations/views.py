from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _

from core.errors import NotFound, ServiceError
from core.pagination import paginate
from core.web import form_error_from_service, pager
from orgs.selectors import active_membership

from . import selectors, services
from .forms import ConversationTitleForm
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
    return render(
        request,
        "conversations/list.html",
        {"page": page, "pager": pager(request, page), "q": search, "key": key, "value": value},
    )


def _thread(request, conversation, *, title_form=None, status=200):
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
        request,
        "conversations/thread.html",
        {
            "conversation": conversation,
            "page": page,
            "pager": pager(request, page),
            "tool": Role.TOOL,
            "title_form": title_form or ConversationTitleForm(initial={"title": conversation.title}),
        },
        status=status,
    )


@login_required
def conversation_thread(request, conversation_id):
    return _thread(request, _conversation_or_404(request, conversation_id))


@login_required
def conversation_rename(request, conversation_id):
    conversation = _conversation_or_404(request, conversation_id)
    if request.method != "POST":
        return redirect("conversation_thread", conversation_id=conversation.id)
    form = ConversationTitleForm(request.POST)
    if form.is_valid():
        try:
            services.conversation_update(
                organization=conversation.organization,
                conversation_id=conversation.id,
                title=form.cleaned_data["title"],
            )
        except ServiceError as error:
            form_error_from_service(form, error)
        else:
            messages.success(request, _("Renamed."))
            return redirect("conversation_thread", conversation_id=conversation.id)
    return _thread(request, conversation, title_form=form, status=400)


@login_required
def conversation_delete(request, conversation_id):
    conversation = _conversation_or_404(request, conversation_id)
    if request.method == "POST":
        services.conversation_delete(organization=conversation.organization, conversation_id=conversation.id)
        messages.success(request, _("Conversation deleted."))
        return redirect("conversation_list")
    return render(request, "conversations/delete_confirm.html", {"conversation": conversation})
