import json
import sys

from django.core.management.base import BaseCommand, CommandError

from webapp.intents.services import IntentError, intent_model_train
from webapp.mlops.models import ModelKind
from webapp.mlops.selectors import model_version_live
from webapp.stores.selectors import store_get_by_slug


class Command(BaseCommand):
    help = (
        "Fine-tune the store's intent model, evaluate it on the held-out examples, register "
        "the version and make it live if it is at least as good as the live one. The last line "
        'is JSON: {"version", "metrics", "promoted"}.'
    )

    def add_arguments(self, parser):
        parser.add_argument("--store", required=True, help="store slug")
        parser.add_argument("--max-seconds", type=float, help="time budget for the training loop")
        parser.add_argument("--max-epochs", type=int, help="at most this many epochs")
        parser.add_argument(
            "--if-none-live",
            action="store_true",
            help="do nothing when the store already has a live intent model (for scripts)",
        )

    def handle(self, *args, **options):
        store = store_get_by_slug(slug=options["store"])
        if store is None:
            raise CommandError(f"Unknown store {options['store']!r}")
        live = model_version_live(store_id=store.id, kind=ModelKind.INTENT)
        if options["if_none_live"] and live is not None:
            self.stderr.write(f"{store.slug}: intent model v{live.version} is live; not training")
            self.stdout.write(
                json.dumps({"version": live.version, "metrics": live.metrics, "promoted": False})
            )
            return
        try:
            result = intent_model_train(
                store=store,
                max_seconds=options["max_seconds"],
                max_epochs=options["max_epochs"],
                progress=self._progress,
            )
        except IntentError as exc:
            raise CommandError(str(exc)) from None
        metrics = result.metrics
        self.stderr.write(
            f"{store.slug}: v{result.version.version} held-out accuracy "
            f"{metrics['without_threshold']['accuracy']:.3f}, macro-F1 "
            f"{metrics['without_threshold']['macro_f1']:.3f}, coverage {metrics['coverage']:.3f} "
            f"at threshold {metrics['threshold']:.2f}; "
            + ("promoted (live)" if result.promoted else "not promoted: the live model is better")
        )
        self.stdout.write(
            json.dumps(
                {
                    "version": result.version.version,
                    "metrics": metrics,
                    "promoted": result.promoted,
                }
            )
        )

    def _progress(self, event) -> None:
        if event.kind == "epoch":
            line = (
                f"epoch {event.epoch}/{event.max_epochs}: val accuracy "
                f"{event.val_accuracy:.3f}, macro-F1 {event.val_macro_f1:.3f} "
                f"({event.elapsed_s:.0f} s)"
            )
        else:
            line = (
                f"epoch {event.epoch} step {event.step}/{event.total_steps} loss "
                f"{event.loss:.3f} elapsed {event.elapsed_s:.0f} s eta {event.eta_s:.0f} s"
            )
        self.stderr.write(line)
        sys.stderr.flush()
