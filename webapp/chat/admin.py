"""The agents' console in the admin: the escalation queue, and one page per conversation.

The changelist is the queue (waiting conversations first, the longest waiting on top). The
console page shows the whole history, updates live over ``ws/agent/conversations/<id>/`` and
has the claim / hand back / resolve buttons, the reply box, canned replies and "correct the
intent" on every shopper message. Each button is a small POST view calling one service.
"""

from __future__ import annotations

import json
from datetime import timedelta

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import F, QuerySet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.timesince import timesince
from django.views.decorators.http import require_POST

from webapp.chat.models import (
    CannedReply,
    Conversation,
    ConversationState,
    Message,
    MessageRating,
    Role,
)
from webapp.chat.selectors import (
    canned_replies,
    conversation_state_payload,
    conversations_export,
)
from webapp.chat.services import (
    ChatError,
    conversation_claim,
    conversation_hand_back,
    conversation_resolve,
)
from webapp.intents.selectors import intent_labels
from webapp.intents.services import IntentError, intent_correction_record
from webapp.stores.admin_scoping import StoreScopedAdmin


class MessageInline(admin.TabularInline):
    model = Message
    extra = 0
    fields = ["created_at", "role", "text", "intent", "confidence", "corrected_intent"]
    readonly_fields = fields
    can_delete = False

    def has_add_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False


class WaitingTimeFilter(admin.SimpleListFilter):
    title = "waiting time"
    parameter_name = "waiting"
    BUCKETS = {
        "lt5": ("under 5 minutes", None, 5),
        "5to30": ("5 to 30 minutes", 5, 30),
        "gt30": ("over 30 minutes", 30, None),
    }

    def lookups(self, request, model_admin):  # type: ignore[no-untyped-def]
        return [(key, label) for key, (label, _, _) in self.BUCKETS.items()]

    def queryset(self, request, queryset):  # type: ignore[no-untyped-def]
        bucket = self.BUCKETS.get(self.value() or "")
        if bucket is None:
            return queryset
        _, at_least, under = bucket
        now = timezone.now()
        queryset = queryset.filter(state=ConversationState.WAITING)
        if at_least is not None:
            queryset = queryset.filter(escalated_at__lte=now - timedelta(minutes=at_least))
        if under is not None:
            queryset = queryset.filter(escalated_at__gt=now - timedelta(minutes=under))
        return queryset


@admin.register(Conversation)
class ConversationAdmin(StoreScopedAdmin):
    list_display = [
        "id",
        "store",
        "state",
        "waiting",
        "escalation_reason",
        "last_intent",
        "agent",
        "shopper_online",
        "console_link",
    ]
    list_filter = ["state", WaitingTimeFilter, "store", "last_intent"]
    search_fields = ["messages__text"]
    search_help_text = "Find conversations by the text of their messages"
    readonly_fields = [
        "store",
        "state",
        "agent",
        "escalated_at",
        "escalation_reason",
        "last_intent",
        "shopper_online",
        "created_at",
        "last_activity_at",
    ]
    exclude = ["token_hash", "slots", "low_confidence_turns"]
    inlines = [MessageInline]
    list_select_related = ["store", "agent"]
    # A shopper's request for their data: export it; to erase it, "Delete selected".
    actions = ["export_json"]

    @admin.action(description="Export the selected conversations (JSON)", permissions=["view"])
    def export_json(self, request: HttpRequest, queryset: QuerySet[Conversation]) -> HttpResponse:
        conversations = conversations_export(
            conversation_ids=list(queryset.values_list("id", flat=True))
        )
        response = HttpResponse(
            json.dumps({"conversations": conversations}, indent=2, ensure_ascii=False),
            content_type="application/json; charset=utf-8",
        )
        response["Content-Disposition"] = 'attachment; filename="conversations.json"'
        return response

    # The queue order: escalated conversations, the longest waiting first; then the rest, the
    # most recently active first. (As ``ordering``: the changelist applies it last, so an
    # ``order_by`` in get_queryset would be overridden by its default, newest first.)
    ordering = [F("escalated_at").asc(nulls_last=True), "-last_activity_at"]

    def has_add_permission(self, request):  # type: ignore[no-untyped-def]
        return False

    @admin.display(description="waiting", ordering="escalated_at")
    def waiting(self, conversation: Conversation) -> str:
        if conversation.state != ConversationState.WAITING or not conversation.escalated_at:
            return "—"
        return timesince(conversation.escalated_at)

    @admin.display(description="console")
    def console_link(self, conversation: Conversation) -> str:
        url = reverse("admin:chat_conversation_console", args=[conversation.id])
        return format_html('<a href="{}">Open console</a>', url)

    def get_urls(self):  # type: ignore[no-untyped-def]
        wrap = self.admin_site.admin_view
        return [
            path(
                "<int:conversation_id>/console/",
                wrap(self.console_view),
                name="chat_conversation_console",
            ),
            path(
                "<int:conversation_id>/console/<str:action>/",
                wrap(require_POST(self.action_view)),
                name="chat_conversation_action",
            ),
            path(
                "<int:conversation_id>/console/messages/<int:message_id>/intent/",
                wrap(require_POST(self.correct_intent_view)),
                name="chat_message_correct_intent",
            ),
            *super().get_urls(),
        ]

    def _conversation(
        self, request: HttpRequest, conversation_id: int, *, to_work: bool = False
    ) -> Conversation:
        """The conversation, if the user may read it (``to_work``: claim, answer, resolve or
        correct it: an agent's permission in its store)."""
        conversation = (
            self.get_queryset(request).select_related("store", "agent").filter(id=conversation_id)
        ).first()
        if conversation is None or not self.has_view_permission(request, conversation):
            raise Http404("No such conversation in your stores.")
        if to_work and not self.has_change_permission(request, conversation):
            raise PermissionDenied("Your role in this store reads conversations; agents work them.")
        return conversation

    def console_view(self, request: HttpRequest, conversation_id: int) -> HttpResponse:
        conversation = self._conversation(request, conversation_id)
        history = list(conversation.messages.select_related("author").order_by("id"))
        context = {
            **self.admin_site.each_context(request),
            "title": f"Conversation {conversation.id}",
            "opts": self.model._meta,
            "conversation": conversation,
            "state": conversation_state_payload(conversation),
            "history": history,
            "shopper_role": Role.SHOPPER,
            "holds_it": conversation.agent_id == request.user.id,
            "can_work": self.has_change_permission(request, conversation),
            "intent_labels": intent_labels(store_id=conversation.store_id),
            "canned_replies": canned_replies(store_id=conversation.store_id),
            "ws_path": f"/ws/agent/conversations/{conversation.id}/",
        }
        return render(request, "admin/chat/conversation/console.html", context)

    ACTIONS = {
        "claim": conversation_claim,
        "hand_back": conversation_hand_back,
        "resolve": conversation_resolve,
    }

    def action_view(self, request: HttpRequest, conversation_id: int, action: str) -> HttpResponse:
        conversation = self._conversation(request, conversation_id, to_work=True)
        service = self.ACTIONS.get(action)
        if service is None:
            raise Http404("Unknown action.")
        try:
            service(conversation_id=conversation.id, agent=request.user)
        except ChatError as exc:
            messages.error(request, str(exc))
        return HttpResponseRedirect(
            reverse("admin:chat_conversation_console", args=[conversation.id])
        )

    def correct_intent_view(
        self, request: HttpRequest, conversation_id: int, message_id: int
    ) -> HttpResponse:
        conversation = self._conversation(request, conversation_id, to_work=True)
        if not conversation.messages.filter(id=message_id).exists():
            raise Http404("No such message in this conversation.")
        intent = request.POST.get("intent_other") or request.POST.get("intent", "")
        try:
            example = intent_correction_record(
                message_id=message_id, intent=intent, agent=request.user
            )
        except IntentError as exc:
            messages.error(request, str(exc))
        else:
            messages.success(
                request, f"Saved as a training example for {example.intent!r}. Thank you!"
            )
        url = reverse("admin:chat_conversation_console", args=[conversation.id])
        return HttpResponseRedirect(f"{url}#message-{message_id}")


@admin.register(CannedReply)
class CannedReplyAdmin(StoreScopedAdmin):
    list_display = ["title", "store", "text"]
    list_filter = ["store"]
    search_fields = ["title", "text"]


@admin.register(MessageRating)
class MessageRatingAdmin(StoreScopedAdmin):
    store_field = "message__store"
    list_display = ["message", "value", "comment", "created_at"]
    list_filter = ["value"]
    readonly_fields = ["message", "value", "comment", "created_at", "updated_at"]

    def has_add_permission(self, request):  # type: ignore[no-untyped-def]
        return False
