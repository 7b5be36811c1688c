"""The intent model's side of training: which examples, how to fit, evaluate and judge it.

The data is the store's labelled examples (imported, demo, admin-made and agents' corrections)
plus, when the store opts in, shopper messages whose bot answer the shopper rated helpful,
labelled with the intent the bot acted on.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from nlp.hygiene import Conflict
from webapp.chat.models import Message, MessageRating, RatingValue, Role
from webapp.intents.models import ExampleSource, ExampleSplit, IntentConflict, IntentExample
from webapp.intents.selectors import heldout_by_hash
from webapp.mlops.models import ModelKind, ModelVersion
from webapp.mlops.runtime import ArtefactDamaged, load_verified
from webapp.mlops.selectors import model_version_live
from webapp.mlops.training import LabelledRow, TrainingData, TrainingDataError
from webapp.stores.models import Store

MIN_EXAMPLES_PER_INTENT = 2


def confirmed_answers(*, store_id: int) -> list[tuple[int, str, str]]:
    """``(message id, shopper text, intent)`` for each bot answer rated helpful: the shopper
    message the bot answered and the intent it answered with. Messages an agent corrected are
    left out (the correction is an example already)."""
    rated = (
        MessageRating.objects.filter(
            message__store_id=store_id, message__role=Role.BOT, value=RatingValue.UP
        )
        .exclude(message__intent="")
        .values_list("message__conversation_id", "message_id", "message__intent")
    )
    found: list[tuple[int, str, str]] = []
    for conversation_id, bot_id, intent in rated:
        asked = (
            Message.objects.filter(
                conversation_id=conversation_id, role=Role.SHOPPER, id__lt=bot_id
            )
            .order_by("-id")
            .values_list("id", "text", "corrected_intent")
            .first()
        )
        if asked is not None and not asked[2]:
            found.append((asked[0], asked[1], intent))
    return found


class IntentTrainer:
    kind = ModelKind.INTENT

    def data(self, store: Store) -> TrainingData:
        examples = list(
            IntentExample.objects.filter(store=store)
            .order_by("id")
            .values_list("id", "text", "intent", "split", "text_key", "source")
        )
        explicit = any(split == ExampleSplit.HELDOUT for _, _, _, split, _, _ in examples)
        rows = [
            LabelledRow(
                f"example:{pk}",
                text,
                intent,
                split == ExampleSplit.HELDOUT if explicit else heldout_by_hash(key),
            )
            for pk, text, intent, split, key, _ in examples
        ]
        counts = {
            "examples": len(examples),
            "agent_corrections": sum(1 for row in examples if row[5] == ExampleSource.AGENT),
        }
        if store.train_on_confirmed_answers:
            confirmed = confirmed_answers(store_id=store.id)
            rows += [LabelledRow(f"message:{pk}", t, i, False) for pk, t, i in confirmed]
            counts["confirmed_answers"] = len(confirmed)
        return TrainingData(rows, explicit_evaluation=explicit, counts=counts)

    def check(self, store: Store, train_labels: list[str], evaluation_labels: list[str]) -> None:
        counts: dict[str, int] = {}
        for label in train_labels:
            counts[label] = counts.get(label, 0) + 1
        if len(counts) < 2:
            raise TrainingDataError("Training needs examples of at least two intents.")
        thin = sorted(label for label, count in counts.items() if count < MIN_EXAMPLES_PER_INTENT)
        if thin:
            raise TrainingDataError(
                f"Each intent needs at least {MIN_EXAMPLES_PER_INTENT} training examples; too "
                f"few for: {', '.join(thin)}"
            )
        if not evaluation_labels:
            raise TrainingDataError("There are no held-out examples to evaluate the model on.")

    def config(self, overrides: dict[str, Any]) -> Any:
        from nlp.intents import IntentTrainingConfig

        return IntentTrainingConfig(
            **{"max_seconds": settings.INTENT_TRAIN_MAX_SECONDS, **overrides}
        )

    def fit(
        self, texts: list[str], labels: list[str], config: Any, progress: Callable[[Any], None]
    ) -> Any:
        from nlp.intents import train_intent_classifier

        return train_intent_classifier(texts, labels, config, progress)

    def evaluate(self, model: Any, texts: list[str], labels: list[str]) -> dict[str, Any]:
        # Averaged over the evaluation set's intents, so a version that learnt a new intent
        # is compared with the live one on the same classes (``IntentClassifier.evaluate``).
        metrics = model.evaluate(texts, labels, report_labels=sorted(set(labels)))
        report = model.report
        if report is not None:
            metrics["training"] = {
                "stopped_by": report.stopped_by,
                "epochs_run": report.epochs_run,
                "best_epoch": report.best_epoch,
                "validation_macro_f1": report.validation.get("macro_f1"),
                "temperature": report.temperature,
                "ece_before": report.ece_before,
                "ece_after": report.ece_after,
            }
        return metrics

    def score(self, metrics: dict[str, Any]) -> float:
        # The top label's macro-F1, before the fallback threshold each model sets for itself
        # (which would otherwise blur the comparison).
        return float(metrics["without_threshold"]["macro_f1"])

    def measures(self, metrics: dict[str, Any]) -> dict[str, float]:
        return {"macro_f1": self.score(metrics)}

    def baselines(self) -> list[tuple[str, Any]]:
        return []  # the floor is the intent model's baseline (``floor_of``)

    def floor_of(self, model: Any) -> Any:
        return getattr(model, "floor", None)

    def serving(self, store: Store) -> tuple[str, ModelVersion | None, Any] | None:
        """The live model, loaded for this run only; None before the first or when its files
        are damaged (then the candidate is judged alone, and can replace it)."""
        from nlp.intents import IntentClassifier

        version = model_version_live(store_id=store.id, kind=self.kind)
        if version is None:
            return None
        try:
            model = load_verified(version, IntentClassifier.load)
        except ArtefactDamaged:
            return None
        return f"intent v{version.version}", version, model

    def save(self, model: Any, directory: Path) -> Any:
        return model.save(directory)

    @transaction.atomic
    def report_conflicts(self, store: Store, conflicts: list[Conflict[Any]]) -> None:
        keys = []
        for conflict in conflicts:
            keys.append(conflict.key)
            IntentConflict.objects.update_or_create(
                store=store,
                key=conflict.key,
                defaults={
                    "text": conflict.text,
                    "labels": {label: list(ids) for label, ids in conflict.labels.items()},
                    "resolved_at": None,
                },
            )
        IntentConflict.objects.filter(store=store, resolved_at__isnull=True).exclude(
            key__in=keys
        ).update(resolved_at=timezone.now())
