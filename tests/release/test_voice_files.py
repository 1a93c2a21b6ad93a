"""Released voices are read from their files, checked against the hashes of the release."""

from __future__ import annotations

from pathlib import Path

import pytest

pytestmark = pytest.mark.usefixtures("platform_home")


@pytest.fixture(scope="module")
def released(tmp_path_factory: pytest.TempPathFactory) -> str:
    from voicemill.release.tiny_voice import register_tiny_voice
    from voicemill.synthesis.types import InferencePreset

    register_tiny_voice(
        tmp_path_factory.mktemp("files"), "files_voice", {"ivr": InferencePreset(seed=1)}
    )
    return "voice-files_voice"


def _client():
    from voicemill.tracking import open_client

    return open_client()


def test_a_release_opens_and_loads_without_its_pickle(released: str, tmp_path: Path) -> None:
    from voicemill.release.voice_files import load_engine, open_release

    release = open_release(_client(), released, "1", tmp_path)
    assert release.s1.suffix == ".ckpt" and release.manifest.default_use_case == "ivr"
    (release.s1.parents[1] / "python_model.pkl").write_bytes(b"not a pickle at all")
    engine, voice = load_engine(release)  # the pickle is never read
    assert voice.prompt_text and engine.sovits is not None


def test_an_altered_file_is_refused(released: str, tmp_path: Path) -> None:
    from voicemill.release.voice_files import VoiceFileError, open_release

    first = open_release(_client(), released, "1", tmp_path)
    data = bytearray(first.s2G.read_bytes())
    data[-10] ^= 0xFF
    first.s2G.write_bytes(bytes(data))
    with pytest.raises(VoiceFileError) as caught:
        open_release(_client(), released, "1", tmp_path)
    assert caught.value.reason == "tampered_voice"


def test_a_version_released_without_hashes_is_refused(released: str, tmp_path: Path) -> None:
    from voicemill.release.voice_files import TAG_PREFIX, VoiceFileError, open_release

    client = _client()
    client.delete_model_version_tag(released, "1", f"{TAG_PREFIX}s1")
    try:
        with pytest.raises(VoiceFileError) as caught:
            open_release(client, released, "1", tmp_path)
        assert caught.value.reason == "unverified_voice"
    finally:
        from voicemill.release.voice_files import fetch_release, release_tags

        tags = release_tags(fetch_release(client, released, "1", tmp_path))
        client.set_model_version_tag(released, "1", f"{TAG_PREFIX}s1", tags[f"{TAG_PREFIX}s1"])
