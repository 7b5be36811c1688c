"""The hand-off state machine of a conversation, as data.

    bot --escalate--> waiting --claim--> agent --resolve--> resolved --reopen--> bot
     |                   |                 |
     +-----claim---------+                 +--hand_back--> bot
                         +--resolve--> resolved

An agent may also take a conversation straight from the bot. Everything not in the table is
refused, so a stale button in an agent's browser can't move a conversation somewhere odd.
"""

from __future__ import annotations

from webapp.chat.models import ConversationState as S

ESCALATE = "escalate"
CLAIM = "claim"
HAND_BACK = "hand_back"
RESOLVE = "resolve"
REOPEN = "reopen"

TRANSITIONS: dict[tuple[str, str], str] = {
    (ESCALATE, S.BOT): S.WAITING,
    (CLAIM, S.BOT): S.AGENT,
    (CLAIM, S.WAITING): S.AGENT,
    (HAND_BACK, S.AGENT): S.BOT,
    (RESOLVE, S.WAITING): S.RESOLVED,
    (RESOLVE, S.AGENT): S.RESOLVED,
    (REOPEN, S.RESOLVED): S.BOT,
}

EVENTS = (ESCALATE, CLAIM, HAND_BACK, RESOLVE, REOPEN)

# States in which the bot answers the shopper; otherwise a human has it, or is coming.
BOT_ANSWERS = frozenset({S.BOT})


def next_state(event: str, state: str) -> str | None:
    """The state ``event`` leads to from ``state``, or None if the move isn't allowed."""
    return TRANSITIONS.get((event, state))
