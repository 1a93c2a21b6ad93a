"""The service under load: workers, admission, deadlines, disconnects, crashes, swaps.

Two services of their own, with the cache off so every request reaches a worker:
``tight`` (one worker, a short queue, a 1 s wait limit) for overload and deadlines,
``pooled`` (two workers) for concurrency, worker crashes and champion swaps.
"""

from __future__ import annotations

import concurrent.futures
import os
import re
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest
from service_kit import OTHER_VOICE, VOICE, Service, running_service

from voicemill.audio.encode import decode_audio

LONG_TEXT = " ".join(f"This is sentence number {i} of a long reading." for i in range(1, 13))


@pytest.fixture(scope="module")
def tight(
    released_voices: list[str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Service]:
    env = {"VOICEMILL_API_CACHE_MAX_MB": "0", "VOICEMILL_API_MAX_QUEUE": "2",
           "VOICEMILL_API_MAX_WAIT_S": "1", "VOICEMILL_API_WORKERS": "1",
           "VOICEMILL_API_MAX_BATCH": "1"}  # fmt: skip
    with running_service(tmp_path_factory.mktemp("tight") / "service.log", **env) as service:
        yield service


@pytest.fixture(scope="module")
def pooled(
    released_voices: list[str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Service]:
    env = {"VOICEMILL_API_CACHE_MAX_MB": "0", "VOICEMILL_API_WORKERS": "2",
           "VOICEMILL_API_MAX_WAIT_S": "120"}  # fmt: skip
    with running_service(tmp_path_factory.mktemp("pooled") / "service.log", **env) as service:
        yield service


def _client(service: Service, key: str) -> httpx.Client:
    return httpx.Client(
        base_url=service.url, headers={"Authorization": f"Bearer {key}"}, timeout=120
    )


def _metric(service: Service, name: str) -> float:
    text = httpx.get(f"{service.url}/metrics").text
    match = re.search(rf"^{re.escape(name)} (\S+)$", text, re.MULTILINE)
    assert match, f"{name} not in /metrics"
    return float(match.group(1))


def _worker_pids(service: Service) -> list[int]:
    """The service's inference workers (spawned children; not multiprocessing's tracker)."""
    workers = []
    for proc in Path("/proc").iterdir():
        try:
            parent = int((proc / "stat").read_text().rsplit(")", 1)[1].split()[1])
            if parent == service.process.pid and b"spawn_main" in (proc / "cmdline").read_bytes():
                workers.append(int(proc.name))
        except (OSError, ValueError, IndexError):
            continue  # not a process, or gone meanwhile
    return workers


def test_overload_is_refused_at_once_with_retry_after(tight: Service, api_key: str) -> None:
    with _client(tight, api_key) as client, concurrent.futures.ThreadPoolExecutor(6) as pool:
        busy = pool.submit(
            client.post, "/v1/synthesize", json={"profile": VOICE, "text": LONG_TEXT}
        )
        time.sleep(0.5)  # the worker is on it
        started = time.perf_counter()
        refused = client.post("/v1/synthesize", json={"profile": VOICE, "text": "Me too."})
        elapsed = time.perf_counter() - started
        assert busy.result().status_code == 200
    assert refused.status_code == 429 and refused.json()["error"]["code"] == "overloaded"
    assert int(refused.headers["retry-after"]) >= 1
    assert elapsed < 0.5  # refused before any model work (the server side is ~ms)


def test_a_deadline_ends_in_504_and_frees_the_worker(tight: Service, api_key: str) -> None:
    with _client(tight, api_key) as client:
        late = client.post(
            "/v1/synthesize", json={"profile": VOICE, "text": LONG_TEXT},
            headers={"X-Request-Timeout": "0.4"},
        )  # fmt: skip
        assert late.status_code == 504 and late.json()["error"]["code"] == "deadline_exceeded"
        time.sleep(1.5)  # the worker stops the cancelled item at its next segment
        after = client.post("/v1/synthesize", json={"profile": VOICE, "text": "Next, please."})
        assert after.status_code == 200
        bad = client.post("/v1/synthesize", json={"profile": VOICE, "text": "x"},
                          headers={"X-Request-Timeout": "soon"})  # fmt: skip
        assert bad.status_code == 400 and bad.json()["error"]["code"] == "invalid_timeout"


def test_a_client_that_leaves_frees_its_slot(tight: Service, api_key: str) -> None:
    with _client(tight, api_key) as client:
        body = {"profile": VOICE, "text": LONG_TEXT, "stream": True}
        with client.stream("POST", "/v1/synthesize", json=body) as response:
            next(response.iter_bytes())  # the first sentence arrived; now hang up
        deadline = time.monotonic() + 5
        while _metric(tight, "voicemill_synthesis_in_flight") != 0:
            assert time.monotonic() < deadline, "the slot was never freed"
            time.sleep(0.1)
        time.sleep(1.0)
        assert (
            client.post(
                "/v1/synthesize", json={"profile": VOICE, "text": "Still here."}
            ).status_code
            == 200
        )


def test_concurrent_requests_equal_their_solo_renders(pooled: Service, api_key: str) -> None:
    """Whole and streamed (token-chunked) requests of two voices, batched together."""
    requests = [
        {"profile": [VOICE, OTHER_VOICE][i % 2], "text": f"Request {i} says hello {i} times.",
         "seed": 100 + i, "use_case": ["ivr", "marketing"][i % 2], "stream": i % 4 < 2}
        for i in range(8)
    ]  # fmt: skip
    with _client(pooled, api_key) as client, concurrent.futures.ThreadPoolExecutor(8) as pool:
        together = list(pool.map(lambda body: client.post("/v1/synthesize", json=body), requests))
        alone = [client.post("/v1/synthesize", json=body) for body in requests]
    for a, b in zip(together, alone, strict=True):
        assert a.status_code == b.status_code == 200
        assert a.headers["x-cache"] == b.headers["x-cache"] == "miss"
        np.testing.assert_array_equal(
            decode_audio(a.content, "wav")[0], decode_audio(b.content, "wav")[0]
        )


def test_a_killed_worker_fails_its_request_cleanly_and_comes_back(
    pooled: Service, api_key: str
) -> None:
    with _client(pooled, api_key) as client, concurrent.futures.ThreadPoolExecutor(4) as pool:
        before = _worker_pids(pooled)
        assert len(before) == 2
        body = {"profile": VOICE, "text": LONG_TEXT * 3}
        running = [pool.submit(client.post, "/v1/synthesize", json={**body, "seed": s})
                   for s in range(4)]  # fmt: skip
        time.sleep(0.5)
        for pid in before:  # whichever worker holds them
            os.kill(pid, signal.SIGKILL)
        outcomes = [f.result() for f in running]
    # Requests the dead workers held fail cleanly; any not yet handed to one run on the
    # restarted workers. Nothing hangs and nothing is a 500.
    failed = [r for r in outcomes if r.status_code != 200]
    assert failed and all(r.status_code == 503 for r in failed), [r.status_code for r in outcomes]
    for response in failed:
        assert response.json()["error"]["code"] == "worker_restarted"
        assert response.headers["retry-after"]
    deadline = time.monotonic() + 90
    while _metric(pooled, "voicemill_workers_up") < 2:
        assert time.monotonic() < deadline, "the workers were not restarted"
        time.sleep(0.5)
    assert not set(_worker_pids(pooled)) & set(before)
    with _client(pooled, api_key) as client:
        for s in range(3):  # the new workers answer
            again = client.post(
                "/v1/synthesize", json={"profile": VOICE, "text": "Back.", "seed": s}
            )
            assert again.status_code == 200


def test_a_promotion_under_load_fails_nothing(
    pooled: Service, api_key: str, tmp_path: Path
) -> None:
    from voicemill.release.tiny_voice import register_tiny_voice
    from voicemill.synthesis.types import InferencePreset

    presets = {"ivr": InferencePreset(top_k=5, seed=11, max_new_tokens=40),
               "marketing": InferencePreset(top_k=15, seed=12, max_new_tokens=40)}  # fmt: skip
    stop = threading.Event()
    versions: set[str] = set()

    def load() -> list[int]:
        codes = []
        with _client(pooled, api_key) as client:
            i = 0
            while not stop.is_set():
                body = {"profile": OTHER_VOICE, "text": f"Load {i}.", "seed": i}
                r = client.post("/v1/synthesize", json=body)
                codes.append(r.status_code)
                versions.add(r.headers.get("x-model-version", ""))
                i += 1
        return codes

    with concurrent.futures.ThreadPoolExecutor(3) as pool:
        futures = [pool.submit(load) for _ in range(3)]
        time.sleep(2)
        version = register_tiny_voice(tmp_path, OTHER_VOICE, presets, seed=9)
        expected = f"voice-{OTHER_VOICE}:{version}"
        deadline = time.monotonic() + 30
        while expected not in versions and time.monotonic() < deadline:
            time.sleep(0.2)
        time.sleep(1)  # a little more load on the new version
        stop.set()
        codes = [c for f in futures for c in f.result()]
    assert codes and set(codes) == {200}, sorted(set(codes))
    assert expected in versions and len(versions) >= 2, versions


def test_a_memory_budget_unloads_the_least_recently_used_voice(
    released_voices: list[str], api_key: str, tmp_path: Path
) -> None:
    """1 MB holds one tiny engine: switching voices unloads the other, and both still speak."""
    env = {"VOICEMILL_API_CACHE_MAX_MB": "0", "VOICEMILL_API_WORKERS": "1",
           "VOICEMILL_API_WORKER_MEMORY_MB": "1"}  # fmt: skip
    with (
        running_service(tmp_path / "service.log", **env) as service,
        _client(service, api_key) as client,
    ):
        for profile in (VOICE, OTHER_VOICE, VOICE):
            body = {"profile": profile, "text": "Switching voices.", "seed": 3}
            assert client.post("/v1/synthesize", json=body).status_code == 200
        log = service.log_text()
    unloaded = re.findall(r"unloaded voice-(\w+):", log)
    assert unloaded.count(VOICE) >= 1 and unloaded.count(OTHER_VOICE) >= 1, log[-2000:]
