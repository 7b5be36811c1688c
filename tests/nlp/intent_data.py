"""A tiny labelled intent set: 4 intents x 8 utterances, enough to train in a few seconds."""

TINY = {
    "order_status": [
        "where is my order",
        "has my package shipped",
        "track my parcel",
        "when will my order arrive",
        "what's the status of my order",
        "my delivery hasn't come yet",
        "is my order on the way",
        "order tracking please",
    ],
    "return_item": [
        "i want to return this",
        "how do i send an item back",
        "can i get a refund",
        "what is your return policy",
        "the shoes don't fit, i want to return them",
        "start a return",
        "refund my purchase",
        "how to return a product",
    ],
    "greeting": [
        "hello",
        "hi there",
        "good morning",
        "hey",
        "hi!",
        "hello, anyone there?",
        "good evening",
        "hey there",
    ],
    "human_agent": [
        "talk to a human",
        "i want a real person",
        "connect me to an agent",
        "speak with support staff",
        "can i talk to someone",
        "get me a human please",
        "live agent",
        "transfer me to a person",
    ],
}
TINY_TEXTS = [text for texts in TINY.values() for text in texts]
TINY_LABELS = [label for label, texts in TINY.items() for _ in texts]
