from django import forms
from django.contrib import admin
from django.urls import reverse
from django.utils.html import format_html, format_html_join

from webapp.intents.models import (
    ExampleSource,
    IntentAnswer,
    IntentConflict,
    IntentExample,
    text_key,
)
from webapp.stores.admin_scoping import StoreScopedAdmin


class IntentExampleForm(forms.ModelForm):
    class Meta:
        model = IntentExample
        fields = ["store", "text", "intent", "split"]

    def clean(self):  # type: ignore[no-untyped-def]
        cleaned = super().clean()
        store, text = cleaned.get("store"), cleaned.get("text")
        if store and text:
            clash = IntentExample.objects.filter(store=store, text_key=text_key(text))
            if self.instance.pk:
                clash = clash.exclude(pk=self.instance.pk)
            other = clash.first()
            if other:
                self.add_error("text", f"This text is already an example of {other.intent!r}.")
        return cleaned


@admin.register(IntentExample)
class IntentExampleAdmin(StoreScopedAdmin):
    form = IntentExampleForm
    list_display = ["text", "intent", "split", "source", "created_by", "created_at"]
    list_filter = ["store", "source", "split", "intent"]
    search_fields = ["text", "intent"]
    list_select_related = ["store", "created_by"]
    readonly_fields = ["source", "message", "created_by", "created_at"]

    def save_model(self, request, obj, form, change):  # type: ignore[no-untyped-def]
        obj.text_key = text_key(obj.text)
        if not change:
            obj.source = ExampleSource.ADMIN
            obj.created_by = request.user
        super().save_model(request, obj, form, change)


@admin.register(IntentAnswer)
class IntentAnswerAdmin(StoreScopedAdmin):
    list_display = ["intent", "store", "template", "faq", "is_active"]
    list_filter = ["store", "is_active"]
    search_fields = ["intent", "template"]
    list_select_related = ["store", "faq"]
    autocomplete_fields: list[str] = []


@admin.register(IntentConflict)
class IntentConflictAdmin(StoreScopedAdmin):
    """Texts labelled with two intents, left out of training until an agent fixes the labels
    (edit or delete the examples); the next training marks the conflict resolved."""

    list_display = ["text", "labelled_as", "store", "detected_at", "resolved_at"]
    list_filter = [
        ("store", admin.RelatedOnlyFieldListFilter),
        ("resolved_at", admin.EmptyFieldListFilter),
    ]
    search_fields = ["text"]
    list_select_related = ["store"]

    def has_add_permission(self, request):  # type: ignore[no-untyped-def]
        return False

    def has_change_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False

    @admin.display(description="labelled as")
    def labelled_as(self, conflict: IntentConflict) -> str:
        parts = []
        for label, ids in sorted(conflict.labels.items()):
            example_ids = [i.split(":", 1)[1] for i in ids if str(i).startswith("example:")]
            others = len(ids) - len(example_ids)
            if example_ids:
                url = reverse("admin:intents_intentexample_changelist")
                link = format_html(
                    '<a href="{}?id__in={}">{} ({})</a>',
                    url,
                    ",".join(example_ids),
                    label,
                    len(example_ids),
                )
            else:
                link = format_html("{}", label)
            if others:
                link = format_html("{} + {} rated answer(s)", link, others)
            parts.append(link)
        return format_html_join(" vs ", "{}", ((part,) for part in parts))
