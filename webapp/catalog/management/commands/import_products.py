from webapp.catalog.services import products_import
from webapp.common.commands import ImportCommand


class Command(ImportCommand):
    help = (
        "Import products from CSV or JSONL (columns sku, name, description, price, currency, "
        "category, stock, url; others become attributes). Re-import updates by sku. "
        "Example: manage.py import_products export.csv --store demo --map name=title"
    )

    def handle(self, *args, **options):
        self.run_import(products_import, options)
