"""Turning Django validation errors into one line for a command or an API response."""

from django.core.exceptions import ValidationError


def validation_message(exc: ValidationError) -> str:
    """``field: message; other: message`` for field errors, else the messages joined."""
    if hasattr(exc, "message_dict"):
        return "; ".join(f"{field}: {' '.join(msgs)}" for field, msgs in exc.message_dict.items())
    return " ".join(exc.messages)
