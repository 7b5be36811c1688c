"""Probes for load balancers and orchestrators (is the process up, is it warm) and the
Prometheus metrics."""

from __future__ import annotations

import hmac

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from webapp.common.observability import METRICS_CONTENT_TYPE, metrics_payload
from webapp.common.readiness import readiness


@never_cache
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    """200 while the process answers at all (liveness: restart it if this fails)."""
    return JsonResponse({"status": "ok"})


@never_cache
@require_GET
def readyz(request: HttpRequest) -> JsonResponse:
    """200 once the encoder, models and indexes this process serves are loaded, 503 before
    (readiness: send it traffic only then). The body says what is warm and what failed."""
    state = readiness()
    response = JsonResponse(state.as_dict(), status=200 if state.ready else 503)
    # A warming process is expected, not a server error: keep django.request from logging
    # every probe during start-up as one.
    response._has_been_logged = True  # type: ignore[attr-defined]
    return response


@never_cache
@require_GET
def metrics(request: HttpRequest) -> HttpResponse:
    """Prometheus metrics (``webapp.common.observability``): with ``METRICS_TOKEN`` set, for
    ``Authorization: Bearer <token>``; without, for loopback clients only."""
    token = settings.METRICS_TOKEN
    if token:
        presented = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
        if not hmac.compare_digest(presented.encode(), token.encode()):
            return HttpResponse("metrics need the METRICS_TOKEN", status=401)
    elif request.META.get("REMOTE_ADDR") not in {"127.0.0.1", "::1"}:
        return HttpResponse(
            "metrics answer loopback clients unless METRICS_TOKEN is set", status=403
        )
    return HttpResponse(metrics_payload(), content_type=METRICS_CONTENT_TYPE)
