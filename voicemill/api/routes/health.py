"""Liveness, readiness ("warm": voices loaded and a synthesis run) and Prometheus metrics."""

from __future__ import annotations

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from voicemill.api.deps import State
from voicemill.api.pool import LANES
from voicemill.api.schemas import Health, Readiness

router = APIRouter(tags=["health"])


@router.get("/healthz", response_model=Health, summary="The process is up.")
def healthz() -> Health:
    return Health(status="ok")


@router.get(
    "/readyz",
    response_model=Readiness,
    summary="Voices loaded and warmed, database reachable (503 until then).",
    responses={503: {"model": Readiness, "description": "Not ready yet"}},
)
def readyz(state: State) -> JSONResponse:
    database = True
    try:
        with state.connect() as conn:
            conn.execute("SELECT 1")
    except Exception:
        database = False
    ready = database and state.warm and state.synthesizer.pool.ready and state.warm_error is None
    body = Readiness(ready=ready, database=database, voices=list(state.ready_voices))
    return JSONResponse(body.model_dump(), status_code=200 if ready else 503)


@router.get(
    "/metrics",
    summary="Prometheus metrics.",
    response_class=Response,
    responses={200: {"content": {CONTENT_TYPE_LATEST: {}}, "description": "Metrics"}},
)
def metrics(state: State) -> Response:
    pool = state.synthesizer.pool
    state.metrics.in_flight.set(pool.in_flight)
    for lane in LANES:
        state.metrics.queue_depth.labels(lane).set(pool.depth(lane))
    state.metrics.workers_up.set(sum(1 for w in pool.workers if w.up))
    return Response(generate_latest(state.metrics.registry), media_type=CONTENT_TYPE_LATEST)
