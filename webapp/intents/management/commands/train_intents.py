from webapp.common.commands import TrainCommand
from webapp.mlops.models import ModelKind


class Command(TrainCommand):
    help = (
        "Fine-tune the store's intent model, evaluate it on its frozen evaluation set, register "
        "the version and make it live if it is no worse than the live one (within "
        'MODEL_PROMOTION_TOLERANCE). The last line is JSON: {"version", "metrics", "promoted"}.'
    )
    kind = ModelKind.INTENT

    def summary(self, metrics: dict, live_metrics: dict | None) -> str:
        top = metrics["without_threshold"]
        return (
            f"held-out accuracy {top['accuracy']:.3f}, macro-F1 {top['macro_f1']:.3f}, "
            f"coverage {metrics['coverage']:.3f} at threshold {metrics['threshold']:.2f}"
        )
