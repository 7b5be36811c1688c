from django import template

from webapp.intents.selectors import intent_conflicts_open_count

register = template.Library()


@register.simple_tag(takes_context=True)
def open_intent_conflicts(context) -> int:  # type: ignore[no-untyped-def]
    """Texts in the user's stores labelled with two intents, waiting for an agent to fix."""
    return intent_conflicts_open_count(user=context["request"].user)
