"""The persistent synthesis cache: lossless files, hit counting, self-healing, races."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest

from voicemill.campaign.cache import SynthesisCache, request_key
from voicemill.db.catalog import connect

RATE = 32_000


def _key(text: str = "Hello there.", **changes) -> str:
    fields = {
        "profile_id": "en-m3",
        "profile_version": 1,
        "use_case": "ivr",
        "preset": {"top_k": 5, "top_p": 0.8, "temperature": 0.7, "seed": 1234},
        "model_name": "voice-en_m3",
        "model_version": "3",
        "normalized_text": text,
        "seed": 1234,
        "language": "en",
    }
    return request_key(**{**fields, **changes})


def _unique_key() -> str:
    import uuid

    return _key(uuid.uuid4().hex)


def _audio(seed: int = 0, seconds: float = 0.5) -> np.ndarray:
    rng = np.random.default_rng(seed)
    audio = rng.standard_normal(int(RATE * seconds)).astype(np.float32) * 0.3
    # Values no integer format keeps exactly: tiny, denormal-ish, slightly over full scale.
    audio[:4] = np.array([1e-9, -3.3e-7, 1.0000001, -1.25], dtype=np.float32)
    return audio


@pytest.fixture
def cache(platform_home: Path, tmp_path: Path) -> SynthesisCache:
    return SynthesisCache(tmp_path / "cache")


def test_request_key_is_canonical_and_covers_every_input() -> None:
    key = _key()
    assert len(key) == 64 and all(c in "0123456789abcdef" for c in key)
    assert _key() == key
    reordered = {"seed": 1234, "temperature": 0.7, "top_p": 0.8, "top_k": 5}
    assert _key(preset=reordered) == key
    changes = [
        {"profile_id": "en-f1"},
        {"profile_version": 2},
        {"use_case": "marketing"},
        {"preset": {**reordered, "top_k": 6}},
        {"model_name": "voice-other"},
        {"model_version": "4"},
        {"normalized_text": "Hello there!"},
        {"seed": 1},
        {"language": "ja"},
    ]
    assert len({_key(**c) for c in changes} | {key}) == len(changes) + 1
    assert _key("caf\u00e9 \ud800") != _key("cafe")  # any text (lone surrogate too) hashes


def test_put_get_round_trip_is_bit_exact_and_counts_hits(cache: SynthesisCache) -> None:
    key, audio = _unique_key(), _audio()
    with connect() as conn:
        assert cache.get(conn, key) is None
        stored = cache.put(conn, key, audio, RATE, "voice-en_m3", "3")
    assert stored.path == cache.root / key[:2] / f"{key}.wav" and stored.path.is_file()
    assert stored.hits == 0 and stored.duration_s == pytest.approx(0.5)
    with connect() as conn:
        first = cache.get(conn, key)
    with connect() as conn:
        second = cache.get(conn, key)
    assert first is not None and second is not None
    assert first.audio.dtype == np.float32
    assert first.audio.tobytes() == audio.tobytes()  # lossless: the very same samples
    assert (first.sample_rate, first.model_name, first.model_version) == (RATE, "voice-en_m3", "3")
    assert (first.hits, second.hits) == (1, 2)
    assert second.last_used_at is not None and second.last_used_at >= first.last_used_at


def test_put_keeps_a_valid_entry(cache: SynthesisCache) -> None:
    key = _unique_key()
    with connect() as conn:
        cache.put(conn, key, _audio(1), RATE, "m", "1")
    with connect() as conn:
        again = cache.put(conn, key, _audio(2), RATE, "m", "1")
        assert again.audio.tobytes() == _audio(1).tobytes()
        assert cache.get(conn, key).audio.tobytes() == _audio(1).tobytes()


@pytest.mark.parametrize("damage", ["missing", "truncated", "other_audio", "garbage"])
def test_a_missing_or_damaged_file_heals_to_a_miss(cache: SynthesisCache, damage: str) -> None:
    key = _unique_key()
    with connect() as conn:
        path = cache.put(conn, key, _audio(), RATE, "m", "1").path
    if damage == "missing":
        path.unlink()
    elif damage == "truncated":
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    elif damage == "other_audio":
        import soundfile as sf

        sf.write(path, _audio(5), RATE, subtype="FLOAT", format="WAV")
    else:
        path.write_bytes(b"not audio at all")
    with connect() as conn:
        assert cache.get(conn, key) is None
        assert (
            conn.execute("SELECT 1 FROM synthesis_cache WHERE request_key = %s", (key,)).fetchone()
            is None
        )
    assert not path.exists()
    with connect() as conn:  # the next put repairs the entry
        cache.put(conn, key, _audio(), RATE, "m", "1")
    with connect() as conn:
        healed = cache.get(conn, key)
    assert healed is not None and healed.hits == 1
    assert healed.audio.tobytes() == _audio().tobytes()


def test_concurrent_puts_of_one_key_leave_one_consistent_entry(cache: SynthesisCache) -> None:
    key, audio = _unique_key(), _audio(7)
    barrier = threading.Barrier(6)
    results, errors = [], []

    def put() -> None:
        try:
            with connect() as conn:
                barrier.wait()
                results.append(cache.put(conn, key, audio.copy(), RATE, "m", "1"))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=put) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert len(results) == 6 and all(r.audio.tobytes() == audio.tobytes() for r in results)
    with connect() as conn:
        rows = conn.execute(
            "SELECT count(*) AS n FROM synthesis_cache WHERE request_key = %s", (key,)
        ).fetchone()
        got = cache.get(conn, key)
    assert rows["n"] == 1
    assert got is not None and got.audio.tobytes() == audio.tobytes()
    assert [p.name for p in (cache.root / key[:2]).iterdir()] == [f"{key}.wav"]  # no temp files


def test_bad_inputs_are_refused(cache: SynthesisCache) -> None:
    key = _unique_key()
    with connect() as conn:
        with pytest.raises(ValueError):
            cache.get(conn, "../../etc/passwd")
        with pytest.raises(ValueError):
            cache.put(conn, key, np.zeros((2, 100), np.float32), RATE, "m", "1")
        with pytest.raises(ValueError):
            cache.put(conn, key, np.array([0.0, np.nan], np.float32), RATE, "m", "1")
        with pytest.raises(ValueError):
            cache.put(conn, key, np.zeros(0, np.float32), RATE, "m", "1")
        with pytest.raises(ValueError):
            cache.put(conn, key, np.zeros(10, np.float32), 0, "m", "1")
        assert cache.get(conn, key) is None


def test_evict_keeps_the_most_recently_used_entries_under_the_bound(
    cache: SynthesisCache,
) -> None:
    keys = [_unique_key() for _ in range(4)]
    with connect() as conn:
        conn.execute("DELETE FROM synthesis_cache")  # the table is shared by the session
        for i, key in enumerate(keys):
            cache.put(conn, key, _audio(i, seconds=0.5), 32_000, "m", "1")
            conn.execute(
                "UPDATE synthesis_cache SET last_used_at = now() - make_interval(mins => %s)"
                " WHERE request_key = %s",
                (10 - i, key),
            )  # keys[3] is the most recently used, keys[0] the least
        one_entry = 16_000 * 4 + 80
        assert cache.evict(conn, max_bytes=10 * one_entry) == 0
        assert cache.evict(conn, max_bytes=2 * one_entry) == 2
        kept = {k for k in keys if cache.get(conn, k) is not None}
    assert kept == set(keys[2:])
    assert not cache.path_for(keys[0]).exists() and cache.path_for(keys[3]).exists()
