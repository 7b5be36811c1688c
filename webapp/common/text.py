"""Text from outside (websocket frames, API bodies, import rows) made storable.

PostgreSQL text cannot hold a NUL character (the insert fails, and the message with it), and a
lone UTF-16 surrogate such as ``"\\ud800"`` (valid in JSON, not in UTF-8) fails the moment it is
encoded for the database or the socket. Neither carries meaning in a shopper's message or a
review, so NUL and the other C0 control characters (tab and newlines kept) are dropped and lone
surrogates become U+FFFD, the replacement character. Everything else is kept as written.
"""

from __future__ import annotations

import re

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_SURROGATE = re.compile(r"[\ud800-\udfff]")


def text_storable(text: str) -> str:
    """``text`` without NUL and control characters, lone surrogates replaced."""
    return _SURROGATE.sub("\ufffd", _CONTROL.sub("", text))
