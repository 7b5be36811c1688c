from webapp.common.commands import ImportCommand
from webapp.reviews.services import reviews_import


class Command(ImportCommand):
    help = (
        "Import product reviews from CSV or JSONL (columns sku, rating, title, body, author, "
        "created_at, external_id; --map for others). Re-importing an external_id updates it."
    )

    def handle(self, *args, **options):
        self.run_import(reviews_import, options)
