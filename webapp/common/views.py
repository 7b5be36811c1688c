"""Probes for load balancers and orchestrators: is the process up, and is it warm."""

from __future__ import annotations

from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

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
