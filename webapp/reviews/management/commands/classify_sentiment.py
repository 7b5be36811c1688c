import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from webapp.common.commands import read_texts
from webapp.reviews.selectors import sentiment_scorer_live
from webapp.stores.selectors import store_get_by_slug

BATCH = 256


class Command(BaseCommand):
    help = (
        "Classify review texts with the store's live sentiment scorer (its fine-tuned model, "
        'or VADER before it has one): one text a line, or a CSV with a "text" column, to JSONL '
        '{"text", "label", "score"}.'
    )

    def add_arguments(self, parser):
        parser.add_argument("--store", required=True, help="store slug")
        parser.add_argument("--input", required=True, type=Path, help="text file or CSV")
        parser.add_argument("--output", type=Path, help="JSONL file (default: stdout)")

    def handle(self, *args, **options):
        store = store_get_by_slug(slug=options["store"])
        if store is None:
            raise CommandError(f"Unknown store {options['store']!r}")
        texts = read_texts(options["input"])
        name, scorer = sentiment_scorer_live(store_id=store.id)
        out = options["output"].open("w", encoding="utf-8") if options["output"] else self.stdout
        try:
            for start in range(0, len(texts), BATCH):
                batch = texts[start : start + BATCH]
                for text, result in zip(batch, scorer.predict(batch), strict=True):
                    row = {"text": text, "label": result.label, "score": result.score}
                    out.write(json.dumps(row, ensure_ascii=False) + "\n")
        finally:
            if options["output"]:
                out.close()
        if options["output"]:
            self.stderr.write(f"{len(texts)} texts classified by {name} into {options['output']}")
