from webapp.common.commands import TrainCommand
from webapp.mlops.models import ModelKind


class Command(TrainCommand):
    help = (
        "Fine-tune the store's sentiment model on its star-rated reviews, evaluate it on its "
        "frozen evaluation set, register the version and make it live if it is no worse than "
        "what scores reviews now (within MODEL_PROMOTION_TOLERANCE). The last line is JSON: "
        '{"version", "metrics", "promoted"}.'
    )
    kind = ModelKind.SENTIMENT

    def summary(self, metrics: dict, live_metrics: dict | None) -> str:
        live = live_metrics or {}
        return (
            f"held-out accuracy {metrics['accuracy']:.3f}, macro-F1 {metrics['macro_f1']:.3f} "
            f"(live {live.get('scorer')}: {live.get('macro_f1', 0):.3f})"
        )
