"""Storage keys for delivered audio: deterministic and path-safe whatever the recipient id.

Recipient ids come from the operator's CRM export and are data, not names: "../x",
"a/b", NUL, 300 characters, emoji. Used in a key as is they would escape the
campaign's prefix (key injection: ``../other_campaign/...``), create nested
"folders", or fail on a filesystem. So the key holds a *slug* of the id (only
``[A-Za-z0-9._-]``, accents folded to ASCII, no leading dots or ``..`` runs, at most
40 characters: kept only so people can find a file) followed by the first 16 hex
digits of the sha256 of the exact id. Slugging loses information ("a/b" and "a_b"
and "ab" may slug alike, "Ann" and "ann" clash on case-insensitive filesystems);
the id hash keeps distinct ids on distinct keys. The first 12 hex digits of the
content hash end the key, so a changed text or voice gets a new key while a retry
of the same work writes the same key (idempotent).

    {campaign_id}/{slug}-{sha256(id)[:16]}-{content[:12]}.{ext}
"""

from __future__ import annotations

import hashlib
import re
import unicodedata

from voicemill.campaign.errors import CampaignError

__all__ = [
    "FORMAT_EXTENSIONS",
    "MAX_KEY_CHARS",
    "delivery_key",
    "recipient_slug",
    "spoken_form",
    "text_sha256",
]

# File extension of each spec output_format; Ogg/Opus files end in .opus (RFC 7845).
FORMAT_EXTENSIONS: dict[str, str] = {"wav": "wav", "flac": "flac", "mp3": "mp3", "opus": "opus"}
SLUG_CHARS = 40
ID_HASH_CHARS = 16
CONTENT_HASH_CHARS = 12
_CAMPAIGN_ID_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
_EXTENSION_RE = re.compile(r"^[a-z0-9]{1,8}$")
_SHA256_RE = re.compile(r"^[0-9a-f]{64}$")
_UNSAFE_RE = re.compile(r"[^A-Za-z0-9._-]+")
# campaign id, "/", slug, "-", id hash, "-", content hash, ".", extension
MAX_KEY_CHARS = 63 + 1 + SLUG_CHARS + 1 + ID_HASH_CHARS + 1 + CONTENT_HASH_CHARS + 1 + 8


def text_sha256(text: str) -> str:
    """sha256 (hex) of a text's UTF-8 bytes: the content hash of a rendered message."""
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def recipient_slug(recipient_id: str) -> str:
    """The readable, path-safe part of a key: may be empty (then the key is hashes only)."""
    folded = unicodedata.normalize("NFKD", recipient_id).encode("ascii", "ignore").decode()
    slug = _UNSAFE_RE.sub("_", folded)
    slug = re.sub(r"\.{2,}", ".", slug).lstrip("._-")
    return slug[:SLUG_CHARS].rstrip("._-")


def delivery_key(campaign_id: str, recipient_id: str, content_sha256: str, extension: str) -> str:
    """Storage key of one recipient's audio, relative to the campaign's storage root.

    ``content_sha256`` is the hex sha256 of what was synthesized (at least the
    rendered text; callers may hash voice and settings in too). The key is the same
    for the same inputs, never contains ``..``, NUL or a ``/`` other than the one
    after ``campaign_id``, and is at most :data:`MAX_KEY_CHARS` long. Raises
    ``CampaignError("invalid_key_part")`` for a malformed campaign id, hash or
    extension (programming errors, never recipient data).
    """
    if not _CAMPAIGN_ID_RE.match(campaign_id):
        raise CampaignError("invalid_key_part", f"campaign id {campaign_id!r} is not a slug")
    if not _SHA256_RE.match(content_sha256):
        raise CampaignError(
            "invalid_key_part", f"content hash {content_sha256!r} is not 64 lowercase hex digits"
        )
    extension = extension.removeprefix(".")
    if not _EXTENSION_RE.match(extension):
        raise CampaignError("invalid_key_part", f"extension {extension!r} is not [a-z0-9]{{1,8}}")
    id_hash = hashlib.sha256(recipient_id.encode("utf-8", "surrogatepass")).hexdigest()
    stem = f"{id_hash[:ID_HASH_CHARS]}-{content_sha256[:CONTENT_HASH_CHARS]}.{extension}"
    slug = recipient_slug(recipient_id)
    return f"{campaign_id}/{slug}-{stem}" if slug else f"{campaign_id}/{stem}"


def spoken_form(text: str, language: str) -> str:
    """The text as it will be spoken: what identical requests are recognized by.

    English and Mandarin go through the synthesis normalizer (so "3 cats" and "three
    cats" are one request: the engine reads both the same way); Japanese and mixed
    (``auto``) texts are compared after Unicode (NFKC) and whitespace normalization.
    """
    import unicodedata

    from voicemill.text.normalize import TextError, normalize_for_tts

    if language in ("en", "zh"):
        try:
            return normalize_for_tts(text, language)
        except TextError:
            pass
    return " ".join(unicodedata.normalize("NFKC", text).split())
