"""Prometheus metrics of the service (``GET /metrics``).

One registry per app (not prometheus-client's global one), so tests and several apps
in one process do not share counters. Labels are bounded: routes are templates
(``/v1/voices/{name}``), never raw paths, and no label carries a key or a text.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

_LATENCY_BUCKETS = (0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 4, 8, 16, 32, 64)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "voicemill_requests",
            "Requests answered, by route template and status.",
            ["route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "voicemill_request_seconds",
            "Time from request to the last byte of the response.",
            ["route"],
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.time_to_first_audio = Histogram(
            "voicemill_time_to_first_audio_seconds",
            "Time from request to the first audio byte sent.",
            ["route"],
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.audio_seconds = Counter(
            "voicemill_audio_seconds",
            "Seconds of audio produced, by voice profile.",
            ["voice"],
            registry=self.registry,
        )
        self.cache = Counter(
            "voicemill_synthesis_cache",
            "Synthesis cache lookups by result (hit, miss).",
            ["result"],
            registry=self.registry,
        )
        self.in_flight = Gauge(
            "voicemill_synthesis_in_flight",
            "Synthesis requests running in the workers.",
            registry=self.registry,
        )
        self.queue_depth = Gauge(
            "voicemill_queue_depth",
            "Requests waiting for a worker, by lane.",
            ["lane"],
            registry=self.registry,
        )
        self.queue_wait = Histogram(
            "voicemill_queue_wait_seconds",
            "Time a request waited for a worker, by lane.",
            ["lane"],
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.workers_up = Gauge(
            "voicemill_workers_up", "Inference workers running.", registry=self.registry
        )
