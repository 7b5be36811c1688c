import json
import sys

from django.core.management.base import BaseCommand, CommandError

from webapp.mlops.models import ModelKind
from webapp.mlops.selectors import model_version_live
from webapp.reviews.training import SentimentTrainingError, sentiment_model_train
from webapp.stores.selectors import store_get_by_slug


class Command(BaseCommand):
    help = (
        "Fine-tune the store's sentiment model on its star-rated reviews, evaluate it on the "
        "held-out reviews, register the version and make it live if it is at least as good as "
        'what scores reviews now. The last line is JSON: {"version", "metrics", "promoted"}.'
    )

    def add_arguments(self, parser):
        parser.add_argument("--store", required=True, help="store slug")
        parser.add_argument("--max-seconds", type=float, help="time budget for the training loop")
        parser.add_argument("--max-epochs", type=int, help="at most this many epochs")
        parser.add_argument(
            "--if-none-live",
            action="store_true",
            help="do nothing when the store already has a live sentiment model (for scripts)",
        )

    def handle(self, *args, **options):
        store = store_get_by_slug(slug=options["store"])
        if store is None:
            raise CommandError(f"Unknown store {options['store']!r}")
        live = model_version_live(store_id=store.id, kind=ModelKind.SENTIMENT)
        if options["if_none_live"] and live is not None:
            self.stderr.write(
                f"{store.slug}: sentiment model v{live.version} is live; not training"
            )
            self.stdout.write(
                json.dumps({"version": live.version, "metrics": live.metrics, "promoted": False})
            )
            return
        try:
            result = sentiment_model_train(
                store=store,
                max_seconds=options["max_seconds"],
                max_epochs=options["max_epochs"],
                progress=self._progress,
            )
        except SentimentTrainingError as exc:
            raise CommandError(str(exc)) from None
        live = result.live_metrics or {}
        self.stderr.write(
            f"{store.slug}: v{result.version.version} held-out accuracy "
            f"{result.metrics['accuracy']:.3f}, macro-F1 {result.metrics['macro_f1']:.3f} "
            f"(live {live.get('scorer')}: {live.get('macro_f1', 0):.3f}); "
            + ("promoted (live)" if result.promoted else "not promoted: the live scorer is better")
        )
        self.stdout.write(
            json.dumps(
                {
                    "version": result.version.version,
                    "metrics": result.metrics,
                    "promoted": result.promoted,
                }
            )
        )

    def _progress(self, event) -> None:
        if event.kind == "epoch":
            self.stderr.write(
                f"epoch {event.epoch}/{event.max_epochs}: val macro-F1 "
                f"{event.val_macro_f1:.3f} ({event.elapsed_s:.0f} s)"
            )
        else:
            self.stderr.write(
                f"epoch {event.epoch} step {event.step}/{event.total_steps} loss "
                f"{event.loss:.3f} elapsed {event.elapsed_s:.0f} s eta {event.eta_s:.0f} s"
            )
        sys.stderr.flush()
