"""The bot's decision for one shopper message (retrieval-backed for now).

Pure over its inputs: it gets the search results and returns what to say, so the rules are
tested without a model.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from retrieval.documents import FAQ, PRODUCT
from webapp.kb.selectors import Source

NOT_SURE = (
    "I'm not sure I've understood that correctly. Here is what I found that might help — "
    "or ask for a human and a member of our team will pick it up."
)
NOT_FOUND = (
    "I'm sorry, I couldn't find anything about that. Could you rephrase it, or ask for a human "
    "and a member of our team will pick it up?"
)
NO_KNOWLEDGE = (
    "I can't look that up right now. Please try again in a moment, or ask for a human and a "
    "member of our team will pick it up."
)
PRODUCT_INTRO = "These products look like a match:"


@dataclass(frozen=True)
class Thresholds:
    """Cosine similarities above which the bot answers instead of hedging.

    Chosen on the demo paraphrases in bench/retrieval (see the README for the figures).
    """

    faq: float = 0.55
    product: float = 0.45
    # Other products are listed if they are within this margin of the best one.
    product_margin: float = 0.08
    max_products: int = 3
    max_suggestions: int = 3
    # Below this, hits are noise ("what's the meaning of life" -> a doormat): don't show them.
    suggestion_floor: float = 0.3


@dataclass(frozen=True)
class BotReply:
    text: str
    sources: list[Source] = field(default_factory=list)
    intent: str | None = None
    confidence: float | None = None


def decide_reply(sources: list[Source], *, thresholds: Thresholds) -> BotReply:
    """Answer from the best FAQ entry, list matching products, or say honestly it's unsure."""
    if not sources:
        return BotReply(NO_KNOWLEDGE)
    best = sources[0]
    if best.kind == FAQ and best.score >= thresholds.faq:
        return BotReply(best.answer, [best], intent=best.intent or None, confidence=best.score)
    if best.kind == PRODUCT and best.score >= thresholds.product:
        products = [
            s
            for s in sources
            if s.kind == PRODUCT and s.score >= best.score - thresholds.product_margin
        ][: thresholds.max_products]
        lines = [PRODUCT_INTRO] + [f"• {p.title} — {p.price}" for p in products]
        return BotReply(
            "\n".join(lines), products, intent="product_question", confidence=best.score
        )
    suggestions = [s for s in sources if s.score >= thresholds.suggestion_floor]
    text = NOT_SURE if suggestions else NOT_FOUND
    return BotReply(text, suggestions[: thresholds.max_suggestions], confidence=best.score)
