from django import template

from webapp.chat.selectors import escalation_queue_count

register = template.Library()


@register.simple_tag(takes_context=True)
def waiting_conversations(context) -> int:  # type: ignore[no-untyped-def]
    """How many conversations in the user's stores wait for an agent (one COUNT query)."""
    return escalation_queue_count(user=context["request"].user)
