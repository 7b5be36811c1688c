from django.core.management.base import BaseCommand, CommandError

from webapp.reviews.models import Review
from webapp.reviews.services import SCORE_BATCH, reviews_request_scoring
from webapp.stores.selectors import store_get_by_slug


class Command(BaseCommand):
    help = (
        "Queue every review of a store for scoring again with its live sentiment scorer "
        f"(tasks of {SCORE_BATCH} reviews). Example: manage.py rescore_reviews --store demo"
    )

    def add_arguments(self, parser):
        parser.add_argument("--store", required=True, help="store slug")

    def handle(self, *args, store: str, **options):
        store_obj = store_get_by_slug(slug=store)
        if store_obj is None:
            raise CommandError(f"Unknown store {store!r}")
        ids = list(Review.objects.filter(store=store_obj).values_list("id", flat=True))
        reviews_request_scoring(review_ids=ids, force=True)
        batches = -(-len(ids) // SCORE_BATCH)
        self.stdout.write(f"{store_obj.slug}: queued {len(ids)} reviews in {batches} tasks")
