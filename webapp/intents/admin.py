from django import forms
from django.contrib import admin

from webapp.intents.models import ExampleSource, IntentAnswer, IntentExample, text_key
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

    def formfield_for_foreignkey(self, db_field, request, **kwargs):  # type: ignore[no-untyped-def]
        if db_field.name == "faq":
            from webapp.catalog.models import FaqEntry
            from webapp.stores.selectors import store_ids_for_user

            ids = store_ids_for_user(user=request.user)
            entries = FaqEntry.objects.all()
            kwargs["queryset"] = entries if ids is None else entries.filter(store_id__in=ids)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)
