"""The FastAPI application: routes, error bodies, start-up (warm voices) and shut-down.

``create_app()`` builds the service on the platform's own PostgreSQL, MLflow registry
and speaker profiles. At start the champions of every profile (or ``voices``) are
loaded and a short synthesis warms each engine in a background thread; ``/healthz``
answers at once, ``/readyz`` only once that is done.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import replace
from functools import partial

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from voicemill.api.context import request_id_var
from voicemill.api.errors import ApiError, from_rejected
from voicemill.api.metrics import Metrics
from voicemill.api.middleware import RequestMiddleware
from voicemill.api.routes import health, jobs, speech, synthesize
from voicemill.api.routes import keys as key_routes
from voicemill.api.routes import voices as voice_routes
from voicemill.api.schemas import ErrorBody
from voicemill.api.state import ServiceState
from voicemill.api.voices import ResolvedVoice
from voicemill.api.worker import WorkerSpec, WorkItem
from voicemill.errors import RejectedInput
from voicemill.settings import Settings, get_settings

log = logging.getLogger("voicemill.api")

API_VERSION = "1.0.0"
WARMUP_TEXT = {"en": "Hello.", "zh": "你好。", "ja": "こんにちは。"}
_HTTP_CODES = {404: "not_found", 405: "method_not_allowed", 406: "not_acceptable"}


def error_response(error: ApiError) -> JSONResponse:
    """The one error shape: ``{"error": {"code", "message", "request_id"}}``."""
    body = {
        "error": {"code": error.reason, "message": error.detail, "request_id": request_id_var.get()}
    }
    return JSONResponse(body, status_code=error.status, headers=error.headers)


def _audited(request: Request, error: ApiError) -> JSONResponse:
    audit = getattr(request.state, "audit", None)
    if audit is not None:
        audit.note(error_code=error.reason)
    return error_response(error)


def _validation_message(exc: RequestValidationError) -> tuple[str, str]:
    errors = exc.errors()
    if any(e.get("type") == "json_invalid" for e in errors):
        return "malformed_json", "the body is not valid JSON"
    parts = []
    for error in errors[:5]:
        where = ".".join(str(p) for p in error.get("loc", ()) if p != "body") or "body"
        parts.append(f"{where}: {error.get('msg', 'invalid')}")
    return "invalid_request", "; ".join(parts)


def worker_specs(settings: Settings) -> list[WorkerSpec]:
    """One worker per GPU named (or found, with ``auto``), else ``api_workers`` CPU
    workers sharing the cores."""
    import os

    device = settings.api_device
    if device == "auto":
        import torch

        count = torch.cuda.device_count()
        device = ",".join(f"cuda:{i}" for i in range(count)) if count else "cpu"
    voices_root = str(settings.cache_dir / "voices")
    if device == "cpu":
        n = settings.api_workers
        threads = settings.api_threads or max(1, (os.cpu_count() or 1) // n)
        devices = ["cpu"] * n
    else:
        devices = [d.strip() for d in device.split(",") if d.strip()]
        threads = 1
    return [
        WorkerSpec(
            i,
            d,
            threads,
            settings.api_precision,
            settings.api_max_loaded_models,
            voices_root,
            max_batch=settings.api_max_batch,
            decode_len=settings.api_decode_len,
            memory_mb=settings.api_worker_memory_mb,
        )
        for i, d in enumerate(devices)
    ]


def build_state(
    settings: Settings | None = None, voices: Sequence[str] | None = None
) -> ServiceState:
    """The service's parts on the platform's database, registry and cache."""
    from voicemill.api.pool import WorkerPool
    from voicemill.api.synthesis import Synthesizer
    from voicemill.api.voices import VoiceCatalog
    from voicemill.campaign.cache import SynthesisCache
    from voicemill.db.catalog import connect
    from voicemill.tracking import open_client

    settings = settings or get_settings()
    connect_here = partial(connect, settings)
    metrics = Metrics()
    pool = WorkerPool(
        worker_specs(settings),
        slots=settings.api_max_batch,
        max_queue=settings.api_max_queue,
        max_wait_s=settings.api_max_wait_s,
        metrics=metrics,
    )
    catalog = VoiceCatalog(
        connect=connect_here,
        client=partial(open_client, settings),
        voices_root=settings.cache_dir / "voices",
        poll_s=settings.api_champion_poll_s,
    )
    cache = SynthesisCache(settings.cache_dir / "synthesis") if settings.api_cache_max_mb else None
    synthesizer = Synthesizer(
        connect=connect_here,
        cache=cache,
        pool=pool,
        cache_max_bytes=settings.api_cache_max_mb * 2**20,
    )
    state = ServiceState(
        settings=settings,
        connect=connect_here,
        catalog=catalog,
        synthesizer=synthesizer,
        metrics=metrics,
    )
    state.extra["voices"] = list(voices) if voices is not None else None
    catalog.set_warmer(partial(_warm_version, state))
    return state


def _warm_items(state: ServiceState, voices: Sequence[ResolvedVoice]) -> list[WorkItem]:
    """Short syntheses per voice, whole and streamed: what makes a worker load its model
    and set up the kernels of both decode paths."""
    from voicemill.api.synthesis import SpeechJob
    from voicemill.synthesis.types import InferencePreset

    preset = InferencePreset(seed=0, max_new_tokens=100)
    pool = state.synthesizer.pool
    jobs = [
        SpeechJob(
            v,
            "warmup",
            preset,
            WARMUP_TEXT.get(v.profile.language, "Hello."),
            v.profile.language,
            "warmup",
        )
        for v in voices
    ]
    return [job.work_item(pool.new_handle(), stream) for job in jobs for stream in (False, True)]


def _warm_version(state: ServiceState, name: str, version: str) -> None:
    """Load and run ``name`` ``version`` in every worker before it is served."""
    voices = [
        replace(v, model_version=version)
        for v in state.catalog.served(state.extra.get("voices"))
        if v.model_name == name
    ]
    state.synthesizer.pool.warm(_warm_items(state, voices))


def _warm(state: ServiceState) -> None:
    try:
        voices = state.catalog.served(state.extra.get("voices"))
        if not state.synthesizer.pool.warm(_warm_items(state, voices)):
            raise TimeoutError("the workers did not finish warming up")
        state.ready_voices = [v.profile.profile_id for v in voices]
        state.warm = True
    except Exception as exc:  # e.g. the registry is unreachable: not ready, and say why
        state.warm_error = f"{type(exc).__name__}: {exc}"
        log.exception("warming the voices failed")


def create_app(
    state: ServiceState | None = None,
    *,
    settings: Settings | None = None,
    voices: Sequence[str] | None = None,
) -> FastAPI:
    """The service. ``state`` defaults to :func:`build_state` on ``settings`` (default:
    the process settings)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        service: ServiceState = app.state.service
        service.synthesizer.pool.start(asyncio.get_running_loop())
        warmer = threading.Thread(target=_warm, args=(service,), name="warm-voices", daemon=True)
        warmer.start()
        service.catalog.start_watching()
        try:
            yield
        finally:
            service.catalog.stop()
            service.synthesizer.pool.close()

    service = state or build_state(settings, voices=voices)
    app = FastAPI(
        title="VoiceMill",
        version=API_VERSION,
        summary="Real-time speech from released GPT-SoVITS voices (OpenAI-compatible).",
        lifespan=lifespan,
        responses={
            code: {"model": ErrorBody, "description": description}
            for code, description in (
                (400, "Bad request"),
                (401, "Missing or invalid API key"),
                (403, "The key may not do this"),
                (404, "Unknown voice, model or job"),
                (413, "Body too large"),
                (415, "Unsupported media type"),
                (422, "Invalid request"),
                (429, "Over the key's limits (see Retry-After)"),
                (503, "Not ready or voice unavailable"),
            )
        },
    )
    app.state.service = service

    @app.exception_handler(RejectedInput)
    async def rejected(request: Request, exc: RejectedInput) -> JSONResponse:
        return _audited(request, from_rejected(exc))

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        code, message = _validation_message(exc)
        return _audited(request, ApiError(code, message))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = _HTTP_CODES.get(exc.status_code, "invalid_request")
        return _audited(request, ApiError(code, str(exc.detail), status=exc.status_code))

    for router in (
        speech.router,
        synthesize.router,
        voice_routes.router,
        jobs.router,
        key_routes.router,
        health.router,
    ):
        app.include_router(router)
    app.add_middleware(RequestMiddleware, state=service)
    return app
