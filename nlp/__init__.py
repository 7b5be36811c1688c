"""Framework-free ML for ShopDesk: intent and sentiment models (train / predict / evaluate /
save / load), PII redaction and metrics. Nothing here imports Django.

The foundation slice answers from retrieval only (see ``retrieval/``); the fine-tuned intent
and sentiment models land here with their own issues.
"""
