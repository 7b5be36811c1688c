import json

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from webapp.kb.services import search_index_build
from webapp.stores.selectors import store_get_by_slug


class Command(BaseCommand):
    help = (
        "Build the store's search index over its FAQ and products as a new version (skipped "
        "when nothing changed unless --force). Example: manage.py build_index --store demo"
    )

    def add_arguments(self, parser):
        parser.add_argument("--store", required=True, help="store slug")
        parser.add_argument("--force", action="store_true", help="build even if unchanged")
        parser.add_argument(
            "--json", dest="as_json", action="store_true", help="print the result as JSON"
        )

    def handle(self, *args, store, force, as_json: bool, **options):
        store_obj = store_get_by_slug(slug=store)
        if store_obj is None:
            raise CommandError(f"Unknown store {store!r}")
        bar = tqdm(total=0, unit="chunk", desc=f"indexing {store}", disable=as_json or None)

        def progress(done: int, total: int) -> None:
            bar.total = total
            bar.update(done - bar.n)

        result = search_index_build(store_id=store_obj.id, force=force, progress=progress)
        bar.close()
        index = result.index
        summary = {
            "store": store,
            "version": index.version,
            "built": result.built,
            "documents": index.documents,
            "chunks": index.chunks,
            "index_kind": index.index_kind,
            "build_seconds": index.build_seconds,
            "path": str(index.directory),
        }
        if as_json:
            self.stdout.write(json.dumps(summary))
        elif result.built:
            self.stdout.write(
                self.style.SUCCESS(
                    f"Built index v{index.version} for {store}: {index.documents} documents, "
                    f"{index.chunks} chunks ({index.index_kind}) in {index.build_seconds:.1f}s"
                )
            )
        else:
            self.stdout.write(f"Index v{index.version} for {store} is up to date")
