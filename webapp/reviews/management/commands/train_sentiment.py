from django.core.management.base import CommandError

from webapp.common.commands import TrainCommand
from webapp.mlops.models import ModelKind
from webapp.mlops.training import TrainingDataError, model_train_now


class Command(TrainCommand):
    help = (
        "Fine-tune the store's sentiment model on its star-rated reviews, evaluate it on the "
        "held-out reviews, register the version and make it live if it is at least as good as "
        'what scores reviews now. The last line is JSON: {"version", "metrics", "promoted"}.'
    )
    kind = ModelKind.SENTIMENT

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
        metrics, live = result.metrics, result.live_metrics or {}
        verdict = (
            f"held-out accuracy {metrics['accuracy']:.3f}, macro-F1 {metrics['macro_f1']:.3f} "
            f"(live {live.get('scorer')}: {live.get('macro_f1', 0):.3f}); "
            + str(result.version.promotion.get("reason", ""))
        )
        return result.version.version, metrics, result.promoted, verdict
