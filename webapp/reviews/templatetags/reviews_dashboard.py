from urllib.parse import urlencode

from django import template
from django.utils.html import format_html

register = template.Library()


@register.filter
def percent(value: float | None) -> str:
    """0.123 -> "12.3%"; no data -> an en dash."""
    return "\u2013" if value is None else f"{value * 100:.1f}%"


@register.filter
def urlencode_dict(query: dict[str, str]) -> str:
    return urlencode(query)


@register.simple_tag
def change(value: float | None, kind: str) -> str:
    """The change against the previous period, coloured by whether it is good news."""
    if value is None:
        return format_html('<span class="change none">{}</span>', "no earlier data")
    if kind == "share":
        text, good = f"{value * 100:+.1f} pts", value <= 0
    elif kind == "rating":
        text, good = f"{value:+.2f}", value >= 0
    else:
        text, good = f"{value:+d}", True
    tone = "flat" if value == 0 else ("good" if good else "bad")
    return format_html('<span class="change {}">{} vs before</span>', tone, text)
