import json
import sys
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from retrieval.embedding import shared_encoder
from webapp.kb.selectors import kb_search, search_index_live
from webapp.stores.selectors import store_get_by_slug


class Command(BaseCommand):
    help = (
        "Search a store's FAQ and products. Examples: manage.py search_kb --store demo "
        '"how long does shipping take?" --k 3 --json ; manage.py search_kb --store demo '
        "--input queries.txt --output hits.jsonl"
    )

    def add_arguments(self, parser):
        parser.add_argument("query", nargs="?", help="one query (or use --input)")
        parser.add_argument("--store", required=True, help="store slug")
        parser.add_argument("--k", type=int, default=5, help="hits per query (default 5)")
        parser.add_argument(
            "--json", dest="as_json", action="store_true", help="print JSON instead of a table"
        )
        parser.add_argument("--input", type=Path, help="file with one query a line")
        parser.add_argument("--output", type=Path, help="write JSONL here instead of stdout")

    def handle(self, *args, query, store, k, as_json: bool, input: Path | None, output, **opts):
        if (query is None) == (input is None):
            raise CommandError("give either a query or --input FILE")
        if not 1 <= k <= 100:
            raise CommandError("--k must be between 1 and 100")
        store_obj = store_get_by_slug(slug=store)
        if store_obj is None:
            raise CommandError(f"Unknown store {store!r}")
        if search_index_live(store_id=store_obj.id) is None:
            raise CommandError(f"Store {store!r} has no index yet: run build_index --store {store}")
        if input is not None:
            if not input.is_file():
                raise CommandError(f"no such file: {input}")
            queries = [line.strip() for line in input.read_text().splitlines() if line.strip()]
        else:
            queries = [query]
        # One batched encode for all queries: ~4x the throughput of encoding one by one.
        vectors = shared_encoder().encode(queries)
        results = [
            {
                "query": text,
                "hits": [
                    {"kind": s.kind, "id": s.id, "title": s.title, "score": round(s.score, 4)}
                    for s in kb_search(store_id=store_obj.id, query=text, k=k, query_vector=vec)
                ],
            }
            for text, vec in zip(queries, vectors, strict=True)
        ]
        out = open(output, "w", encoding="utf-8") if output else sys.stdout  # noqa: SIM115
        try:
            if as_json or input is not None:
                for result in results:
                    out.write(json.dumps(result, ensure_ascii=False) + "\n")
            else:
                for rank, hit in enumerate(results[0]["hits"], start=1):
                    out.write(
                        f"{rank}. [{hit['kind']} {hit['id']}] {hit['score']:.3f}  {hit['title']}\n"
                    )
        finally:
            if output:
                out.close()
