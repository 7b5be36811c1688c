from django.contrib import admin

from webapp.chat.models import Conversation, Message
from webapp.stores.admin_scoping import StoreScopedAdmin


class MessageInline(admin.TabularInline):
    model = Message
    extra = 0
    fields = ["created_at", "role", "text", "intent", "confidence"]
    readonly_fields = fields
    can_delete = False

    def has_add_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False


@admin.register(Conversation)
class ConversationAdmin(StoreScopedAdmin):
    list_display = ["id", "store", "state", "created_at", "last_activity_at"]
    list_filter = ["store", "state"]
    readonly_fields = ["store", "state", "created_at", "last_activity_at"]
    exclude = ["token_hash"]
    inlines = [MessageInline]
    list_select_related = ["store"]

    def has_add_permission(self, request):  # type: ignore[no-untyped-def]
        return False
