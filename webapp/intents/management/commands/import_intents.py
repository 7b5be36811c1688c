from webapp.common.commands import ImportCommand
from webapp.intents.models import ExampleSplit
from webapp.intents.services import intent_examples_import


class Command(ImportCommand):
    help = (
        "Import labelled utterances (columns text, intent) from CSV or JSONL. "
        "--heldout keeps them apart for evaluating models."
    )

    def add_arguments(self, parser):
        super().add_arguments(parser)
        parser.add_argument(
            "--heldout",
            action="store_true",
            help="import as the held-out evaluation set (never used for training)",
        )

    def handle(self, *args, **options):
        split = ExampleSplit.HELDOUT if options["heldout"] else ExampleSplit.TRAIN

        def importer(**kwargs):
            return intent_examples_import(split=split, **kwargs)

        self.run_import(importer, options)
