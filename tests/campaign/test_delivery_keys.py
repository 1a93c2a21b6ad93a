"""Delivery keys: path-safe, bounded, deterministic and distinct whatever the recipient id."""

from __future__ import annotations

import hashlib
import re

import pytest

from voicemill.campaign.errors import CampaignError
from voicemill.campaign.keys import (
    FORMAT_EXTENSIONS,
    MAX_KEY_CHARS,
    delivery_key,
    recipient_slug,
    text_sha256,
)

CONTENT = text_sha256("Hi Ann, spring is here!")
HOSTILE_IDS = [
    "../../etc/passwd",
    "../",
    "..",
    ".",
    "a/b",
    "/absolute/path",
    "a/../../b",
    "nul\x00id",
    "x" * 300,
    "😀",
    "Ünïcödé Ñame",
    "李雷",
    "C:\\Windows\\system32",
    "%2e%2e%2f",
    "line\nbreak",
    ".hidden",
    "-leading-dash",
    " ",
    "",
    "a" * 39 + "/" + "b" * 100,
]


def _assert_safe(key: str, campaign_id: str = "spring") -> None:
    prefix, _, name = key.partition("/")
    assert prefix == campaign_id
    assert "/" not in name and "\\" not in name
    assert ".." not in key
    assert "\x00" not in key
    assert re.fullmatch(r"[A-Za-z0-9._-]+", name), key
    assert not name.startswith((".", "-", "_"))
    assert len(key) <= MAX_KEY_CHARS
    assert name.endswith(".wav")


@pytest.mark.parametrize("recipient_id", HOSTILE_IDS)
def test_keys_are_path_safe(recipient_id: str) -> None:
    key = delivery_key("spring", recipient_id, CONTENT, "wav")
    _assert_safe(key)
    assert key == delivery_key("spring", recipient_id, CONTENT, "wav")  # deterministic


def test_key_layout() -> None:
    key = delivery_key("spring", "cust-42", CONTENT, ".flac")
    id_hash = hashlib.sha256(b"cust-42").hexdigest()[:16]
    assert key == f"spring/cust-42-{id_hash}-{CONTENT[:12]}.flac"


def test_unsluggable_ids_get_hash_only_keys() -> None:
    key = delivery_key("spring", "😀", CONTENT, "mp3")
    assert re.fullmatch(r"spring/[0-9a-f]{16}-[0-9a-f]{12}\.mp3", key)
    assert recipient_slug("../..") == ""
    assert recipient_slug("José Müller") == "Jose_Muller"
    assert recipient_slug("x" * 300) == "x" * 40


def test_ids_that_slug_alike_get_distinct_keys() -> None:
    alike = ["a/b", "a_b", "a?b", "a b", "a\x00b", "a\\b", "a//b"]
    assert len({recipient_slug(i) for i in alike}) == 1
    keys = {delivery_key("spring", i, CONTENT, "wav") for i in alike}
    assert len(keys) == len(alike)
    # Case-only differences stay distinct on case-insensitive filesystems too.
    cased = {delivery_key("spring", i, CONTENT, "wav").lower() for i in ("Ann", "ann", "ANN")}
    assert len(cased) == 3
    long_prefix = "p" * 40
    assert delivery_key("spring", long_prefix + "1", CONTENT, "wav") != delivery_key(
        "spring", long_prefix + "2", CONTENT, "wav"
    )


def test_many_ids_never_collide() -> None:
    ids = [f"user/{i}" for i in range(5000)] + [f"user_{i}" for i in range(5000)]
    keys = {delivery_key("spring", i, CONTENT, "opus") for i in ids}
    assert len(keys) == len(ids)


def test_content_changes_the_key() -> None:
    other = text_sha256("Hi Ann, summer is here!")
    assert delivery_key("spring", "ann", CONTENT, "wav") != delivery_key(
        "spring", "ann", other, "wav"
    )


def test_text_sha256() -> None:
    assert text_sha256("héllo") == hashlib.sha256("héllo".encode()).hexdigest()
    assert text_sha256("\ud800") == hashlib.sha256(b"\xed\xa0\x80").hexdigest()  # no raise


@pytest.mark.parametrize(
    ("campaign_id", "content", "extension"),
    [
        ("../x", CONTENT, "wav"),
        ("Spring", CONTENT, "wav"),
        ("spring", "abc", "wav"),
        ("spring", CONTENT.upper(), "wav"),
        ("spring", CONTENT, "w/av"),
        ("spring", CONTENT, ""),
        ("spring", CONTENT, "toolongext"),
    ],
)
def test_malformed_key_parts_raise(campaign_id: str, content: str, extension: str) -> None:
    with pytest.raises(CampaignError) as info:
        delivery_key(campaign_id, "ann", content, extension)
    assert info.value.reason == "invalid_key_part"


def test_every_output_format_has_a_valid_extension() -> None:
    for fmt, extension in FORMAT_EXTENSIONS.items():
        assert delivery_key("spring", "ann", CONTENT, extension).endswith("." + extension), fmt
    assert FORMAT_EXTENSIONS["opus"] == "opus"  # Ogg/Opus
