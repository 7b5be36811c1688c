"""The storefront's review API: ``POST /api/stores/<slug>/reviews/`` with the store's API key.

Errors are JSON ``{"error": code, "message": text}``; invalid fields are
``{"error": "invalid", "errors": {field: [message, ...]}}``. A new review answers 201 with its
id; re-posting an ``external_id`` updates that review (200). Scoring is queued on commit.
"""

from __future__ import annotations

import functools
import json
import logging
from typing import Any

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.db import transaction
from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django_ratelimit import ALL
from django_ratelimit.core import get_usage

from webapp.catalog.models import Product
from webapp.common.importing import RowInvalid, text_field
from webapp.reviews.models import MAX_BODY_CHARS, MAX_TITLE_CHARS, ReviewSource
from webapp.reviews.services import (
    created_at_clean,
    rating_clean,
    review_upsert,
    reviews_request_scoring,
)
from webapp.stores.selectors import store_get_by_slug
from webapp.stores.services import api_key_authenticate

logger = logging.getLogger(__name__)
MAX_REQUEST_BYTES = 64 * 1024
FIELDS = ("sku", "rating", "title", "body", "author", "created_at", "external_id")


def _error(status: int, code: str, message: str, **extra: Any) -> JsonResponse:
    return JsonResponse({"error": code, "message": message, **extra}, status=status)


def _presented_key(request: HttpRequest) -> str:
    header = request.headers.get("Authorization", "")
    if header.lower().startswith("bearer "):
        return header[7:].strip()
    return request.headers.get("X-Api-Key", "").strip()


def _key_of(group: str, request: HttpRequest) -> str:
    return _presented_key(request)


def _limited(request: HttpRequest, group: str, key: Any, per_minute: int, count: bool) -> bool:
    """Whether ``group``'s django-ratelimit counter for this request has reached
    ``per_minute`` (0: no limit); ``count`` adds this request to it first."""
    if per_minute <= 0:
        return False
    usage = get_usage(
        request, group=group, key=key, rate=f"{per_minute}/m", method=ALL, increment=count
    )
    if usage is None:
        return False
    return usage["count"] > usage["limit"] if count else usage["count"] >= usage["limit"]


def _always_json(view: Any) -> Any:
    """Whatever goes wrong, the storefront gets JSON it can act on (the error is logged)."""

    @functools.wraps(view)
    def run(request: HttpRequest, *args: Any, **kwargs: Any) -> JsonResponse:
        try:
            return view(request, *args, **kwargs)
        except Exception:
            logger.exception("review API failed")
            return _error(500, "server_error", "Something went wrong; retry with the same body.")

    return run


@csrf_exempt
@_always_json
def review_create(request: HttpRequest, slug: str) -> JsonResponse:
    if request.method != "POST":
        response = _error(405, "method_not_allowed", "POST a review to this address.")
        response["Allow"] = "POST"
        return response
    store = store_get_by_slug(slug=slug)
    if store is None:
        return _error(404, "unknown_store", f"There is no store {slug!r}.")
    key = _presented_key(request)
    if not key:
        return _error(
            401, "missing_api_key", "Send the store's API key as 'Authorization: Bearer <key>'."
        )
    if _limited(request, "api-bad-key", "ip", settings.API_BAD_KEYS_PER_MINUTE_PER_IP, False):
        return _error(
            429, "rate_limited", "Too many wrong API keys from this address; wait a minute."
        )
    key_store_id = api_key_authenticate(key=key)
    if key_store_id is None:
        _limited(request, "api-bad-key", "ip", settings.API_BAD_KEYS_PER_MINUTE_PER_IP, True)
        return _error(401, "invalid_api_key", "This API key is unknown or revoked.")
    if _limited(request, "api-reviews", _key_of, settings.API_REVIEWS_PER_MINUTE_PER_KEY, True):
        return _error(
            429, "rate_limited", "Too many reviews with this key this minute; send the rest later."
        )
    if key_store_id != store.id:
        return _error(403, "wrong_store", "This API key belongs to another store.")
    too_large = _error(413, "too_large", f"A review must be under {MAX_REQUEST_BYTES} bytes.")
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        declared = 0
    if declared > MAX_REQUEST_BYTES:  # refused before Django reads (and refuses) the body
        return too_large
    try:
        body = request.body
    except RequestDataTooBig:
        return too_large
    if len(body) > MAX_REQUEST_BYTES:
        return too_large
    if request.content_type != "application/json":
        return _error(415, "unsupported_media_type", "Send the review as application/json.")
    try:
        payload = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        return _error(400, "malformed_json", f"The body is not valid JSON: {exc}")
    except RecursionError:
        return _error(400, "malformed_json", "The body is nested too deeply.")
    if not isinstance(payload, dict):
        return _error(400, "malformed_json", "The body must be a JSON object.")

    errors: dict[str, list[str]] = {}
    unknown = sorted(set(payload) - set(FIELDS))
    if unknown:
        errors["__all__"] = [f"Unknown fields: {', '.join(unknown)}."]

    def field(name: str, clean: Any) -> Any:
        try:
            return clean()
        except RowInvalid as exc:
            errors.setdefault(name, []).append(str(exc))
            return None

    sku = field("sku", lambda: text_field(payload, "sku", required=True, max_length=64))
    product = None
    if sku:
        product = Product.objects.filter(store=store, sku=sku).first()
        if product is None:
            errors.setdefault("sku", []).append(f"unknown sku {sku!r}")
    values = {
        "rating": field("rating", lambda: rating_clean(payload.get("rating"))),
        "title": field(
            "title",
            lambda: text_field(payload, "title", required=False, max_length=MAX_TITLE_CHARS),
        ),
        "body": field(
            "body", lambda: text_field(payload, "body", required=False, max_length=MAX_BODY_CHARS)
        ),
        "author_name": field(
            "author", lambda: text_field(payload, "author", required=False, max_length=100)
        ),
        "created_at": field("created_at", lambda: created_at_clean(payload.get("created_at"))),
    }
    external_id = field(
        "external_id", lambda: text_field(payload, "external_id", required=False, max_length=100)
    )
    if "title" not in errors and "body" not in errors and not (values["title"] or values["body"]):
        errors.setdefault("body", []).append("a review needs a title or a body")
    if errors or product is None:
        return _error(400, "invalid", "The review has invalid fields.", errors=errors)

    with transaction.atomic():
        review, outcome = review_upsert(
            store=store,
            product=product,
            external_id=external_id or "",
            fields={**values, "source": ReviewSource.API},
        )
        if review.scored_at is None:
            reviews_request_scoring(review_ids=[review.id])
    status = 201 if outcome == "created" else 200
    return JsonResponse({"id": review.id, "status": outcome}, status=status)
