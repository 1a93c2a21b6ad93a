"""API keys and per-minute limits on a real PostgreSQL."""

from __future__ import annotations

import threading
import uuid
from pathlib import Path

import pytest

from voicemill.api.keys import (
    ApiKey,
    ApiKeyError,
    consume,
    create_key,
    list_keys,
    parse_key,
    revoke_key,
    verify_key,
)
from voicemill.db.catalog import connect


def _name() -> str:
    return f"k-{uuid.uuid4().hex[:10]}"


def _create(**kwargs) -> tuple[ApiKey, str]:
    kwargs.setdefault("scopes", ["synthesize"])
    with connect() as conn:
        return create_key(conn, kwargs.pop("name", None) or _name(), **kwargs)


def _verify(presented: str) -> ApiKey | None:
    with connect() as conn:
        return verify_key(conn, presented)


def test_create_verify_revoke_round_trip(platform_home: Path) -> None:
    name = _name()
    key, plaintext = _create(name=name, scopes="jobs,synthesize", rpm=5)
    assert plaintext.startswith(f"vm_{key.key_id}_") and parse_key(plaintext) is not None
    assert key.scopes == ("synthesize", "jobs") and key.voices is None and key.rpm == 5
    assert key.last_used_at is None and not key.revoked

    verified = _verify(plaintext)
    assert verified is not None and verified.key_id == key.key_id and verified.name == name
    assert verified.last_used_at is not None
    assert _verify(f"  {plaintext}\n") is not None  # surrounding whitespace is ignored

    with connect() as conn:
        listed = {k.name: k for k in list_keys(conn)}
        assert listed[name].last_used_at == verified.last_used_at
        assert revoke_key(conn, name) is True
        assert revoke_key(conn, name) is False  # nothing live under that name any more
    assert _verify(plaintext) is None  # the very next request is refused
    with connect() as conn:
        revoked = {k.key_id: k for k in list_keys(conn)}[key.key_id]
        assert revoked.revoked and revoked.revoked_at is not None
        assert key.key_id not in {k.key_id for k in list_keys(conn, include_revoked=False)}
    again, plaintext2 = _create(name=name)  # a revoked key's name can be issued again
    assert again.key_id != key.key_id and _verify(plaintext2) is not None


def test_only_the_hash_is_stored(platform_home: Path) -> None:
    key, plaintext = _create(voices=["en-m3"])
    secret = plaintext.split("_", 2)[2]
    assert "key_hash" not in ApiKey.model_fields and secret not in key.model_dump_json()
    with connect() as conn:
        row = conn.execute("SELECT * FROM api_keys WHERE key_id = %s", (key.key_id,)).fetchone()
        dump = conn.execute(
            "SELECT string_agg(t::text, '|') AS s FROM api_keys t WHERE key_id = %s",
            (key.key_id,),
        ).fetchone()["s"]
    assert secret not in dump and plaintext not in dump
    assert len(row["key_hash"]) == 64 and row["key_hash"] != secret


def test_bad_keys_do_not_verify(platform_home: Path) -> None:
    _, plaintext = _create()
    _, key_id, secret = plaintext.split("_", 2)
    other_secret = ("A" if secret[0] != "A" else "B") + secret[1:]
    unknown_id = "zz" + key_id[2:] if not key_id.startswith("zz") else "yy" + key_id[2:]
    for bad in (
        f"vm_{key_id}_{other_secret}",  # wrong secret
        f"vm_{unknown_id}_{secret}",  # unknown id
        f"vm_{key_id}_{secret[:-1]}",  # truncated
        f"vm_{key_id}_{secret}x",  # too long
        f"vm_{key_id.upper()}_{secret}",
        f"xx_{key_id}_{secret}",
        f"Bearer {plaintext}",
        "",
        "vm__",
        secret,
        key_id,
    ):
        assert _verify(bad) is None, bad
    assert _verify(plaintext) is not None


def test_scopes_and_voices(platform_home: Path) -> None:
    key, _ = _create(scopes=["admin", "synthesize"], voices="en-m3, zh-f1")
    assert key.scopes == ("synthesize", "admin")
    assert key.allows_scope("synthesize") and key.allows_scope("admin")
    assert not key.allows_scope("jobs")  # admin does not imply the other scopes
    assert key.allows_voice("en-m3") and key.allows_voice("zh-f1")
    assert not key.allows_voice("en-f2")
    with pytest.raises(ValueError):
        key.allows_scope("root")
    anyone, _ = _create()
    assert anyone.allows_voice("whatever") and not anyone.allows_scope("admin")


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"name": "has space"}, "invalid_key_name"),
        ({"name": "x" * 65}, "invalid_key_name"),
        ({"scopes": []}, "invalid_scopes"),
        ({"scopes": "synthesize,root"}, "invalid_scopes"),
        ({"voices": []}, "invalid_voices"),
        ({"voices": ["En M3"]}, "invalid_voices"),
        ({"rpm": 0}, "invalid_limit"),
        ({"chars_per_min": -5}, "invalid_limit"),
        ({"rpm": True}, "invalid_limit"),
    ],
)
def test_invalid_keys_are_refused(platform_home: Path, changes: dict, reason: str) -> None:
    with pytest.raises(ApiKeyError) as err:
        _create(**changes)
    assert err.value.reason == reason


def test_a_live_name_is_taken_and_the_transaction_survives(platform_home: Path) -> None:
    name = _name()
    _create(name=name)
    with connect() as conn:
        with pytest.raises(ApiKeyError) as err:
            create_key(conn, name, ["jobs"])
        assert err.value.reason == "key_name_taken"
        other, _ = create_key(conn, _name(), ["jobs"])  # the savepoint kept conn usable
    assert other.key_id


def _same_window(results) -> bool:
    starts = {a.window_start for a in results}
    return len(starts) == 1


def _in_one_window(attempt):
    """Run ``attempt`` (fresh key each time) until its requests all fell in one minute."""
    for _ in range(3):
        results = attempt()
        if _same_window(results):
            return results
    pytest.fail("could not stay within one minute window")


def test_requests_per_minute(platform_home: Path) -> None:
    def attempt():
        key, _ = _create(rpm=2)
        with connect() as conn:
            return [consume(conn, key, 10) for _ in range(4)]

    first, second, third, fourth = _in_one_window(attempt)
    assert first.allowed and second.allowed and second.requests == 2
    assert not third.allowed and third.limit == "rate_limited"
    assert 1 <= third.retry_after_s <= 60
    assert third.requests == 2 and third.chars == 20  # refused requests use no quota
    assert not fourth.allowed and fourth.retry_after_s <= third.retry_after_s


def test_characters_per_minute(platform_home: Path) -> None:
    def attempt():
        key, _ = _create(chars_per_min=100)
        with connect() as conn:
            out = [consume(conn, key, n) for n in (60, 50, 40, 1)]
        with pytest.raises(ApiKeyError) as err, connect() as conn:
            consume(conn, key, 101)  # can never fit: not a retry-later
        assert err.value.reason == "text_too_long"
        return out

    first, refused, fits, full = _in_one_window(attempt)
    assert first.allowed and first.chars == 60
    assert not refused.allowed and refused.limit == "char_limit"
    assert 1 <= refused.retry_after_s <= 60
    assert fits.allowed and fits.chars == 100  # the refused 50 did not count
    assert not full.allowed and full.limit == "char_limit"


def test_unlimited_keys_are_not_counted(platform_home: Path) -> None:
    key, _ = _create()
    with connect() as conn:
        admissions = [consume(conn, key, 10_000) for _ in range(3)]
        rows = conn.execute("SELECT * FROM api_usage WHERE key_id = %s", (key.key_id,)).fetchall()
    assert all(a.allowed and a.retry_after_s is None for a in admissions) and rows == []
    with pytest.raises(ApiKeyError) as err, connect() as conn:
        consume(conn, key, -1)
    assert err.value.reason == "invalid_chars"


def test_limits_are_shared_across_connections(platform_home: Path) -> None:
    def alternate():
        key, _ = _create(rpm=3)
        with connect() as a, connect() as b:
            out = []
            for conn in (a, b, a, b, b):
                out.append(consume(conn, key, 1))
                conn.commit()
            return out

    results = _in_one_window(alternate)
    assert [r.allowed for r in results] == [True, True, True, False, False]

    def concurrent():  # two "processes" racing: exactly rpm requests get through
        key, _ = _create(rpm=5)
        out = []
        lock = threading.Lock()

        def worker() -> None:
            with connect() as conn:
                for _ in range(6):
                    admission = consume(conn, key, 1)
                    conn.commit()
                    with lock:
                        out.append(admission)

        threads = [threading.Thread(target=worker) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        return out

    results = _in_one_window(concurrent)
    assert sum(r.allowed for r in results) == 5 and len(results) == 12
