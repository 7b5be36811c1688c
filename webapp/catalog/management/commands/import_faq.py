from webapp.catalog.services import faq_import
from webapp.common.commands import ImportCommand


class Command(ImportCommand):
    help = (
        "Import FAQ entries from CSV or JSONL (columns question, answer, category, intent). "
        "Re-import updates by question. Example: manage.py import_faq faq.jsonl --store demo"
    )

    def handle(self, *args, **options):
        self.run_import(faq_import, options)
