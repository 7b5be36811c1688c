from django.core.management.base import CommandError

from webapp.common.commands import TrainCommand
from webapp.mlops.models import ModelKind
from webapp.mlops.training import TrainingDataError, model_train_now


class Command(TrainCommand):
    help = (
        "Fine-tune the store's intent model, evaluate it on the held-out examples, register "
        "the version and make it live if it is at least as good as the live one. The last line "
        'is JSON: {"version", "metrics", "promoted"}.'
    )
    kind = ModelKind.INTENT

    def train(self, store, *, max_seconds, max_epochs, progress):
        try:
            result = model_train_now(
                store=store,
                kind=self.kind,
                max_seconds=max_seconds,
                max_epochs=max_epochs,
                progress=progress,
            )
        except TrainingDataError as exc:
            raise CommandError(str(exc)) from None
        metrics = result.metrics
        verdict = (
            f"held-out accuracy {metrics['without_threshold']['accuracy']:.3f}, macro-F1 "
            f"{metrics['without_threshold']['macro_f1']:.3f}, coverage {metrics['coverage']:.3f} "
            f"at threshold {metrics['threshold']:.2f}; "
            + str(result.version.promotion.get("reason", ""))
        )
        return result.version.version, metrics, result.promoted, verdict
