"""The synthesis engine on tiny random models: prompts, lengths, seeds, batching, streaming."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from voicemill.errors import RejectedInput
from voicemill.synthesis import InferencePreset, SynthesisEngine, SynthesisError
from voicemill.synthesis.engine import PROMPT_PAD_SAMPLES
from voicemill.synthesis.types import SAMPLES_PER_TOKEN

TEXT = "Hello world. 你好，世界。 This is another sentence here."
FAST = InferencePreset(seed=7, max_new_tokens=16)


def test_preset_defaults_follow_upstream_api() -> None:
    p = InferencePreset()
    assert (p.top_k, p.top_p, p.temperature, p.repetition_penalty) == (15, 1.0, 1.0, 1.35)
    assert (p.speed, p.batch_size, p.fragment_interval_s, p.seed) == (1.0, 1, 0.3, -1)
    with pytest.raises(ValueError):
        InferencePreset(top_k=0)


def test_prompt_features_have_the_upstream_shapes(engine: SynthesisEngine, reference) -> None:
    audio, rate = reference  # 4 s
    voice = engine.prepare_voice((audio, rate), "Hello there, this is a test.", "en")
    n16k = 4 * 16000 + PROMPT_PAD_SAMPLES  # 0.6 s of zeros appended at 16 kHz
    assert voice.prompt_semantic is not None
    assert voice.prompt_semantic.shape == (1, -(-n16k // 320) // 2)  # 50 Hz -> 25 Hz codes
    assert voice.refer_spec.shape == (1, 1025, 4 * 32000 // 640)
    assert len(voice.prompt_phone_ids) == voice.prompt_bert.shape[1] > 0
    assert voice.prompt_bert.shape[0] == 1024 and not voice.reference_free


def test_voices_are_prepared_once_per_content(engine: SynthesisEngine, ssl, reference) -> None:
    audio, rate = reference
    first = engine.prepare_voice((audio, rate), "Hello there.", "en")
    again = engine.prepare_voice((audio.copy(), rate), "Hello there.", "en")
    assert again is first and ssl.calls == 1
    other = engine.prepare_voice((audio, rate), "Another prompt.", "en")
    assert other.key != first.key and ssl.calls == 2


def test_reference_from_a_file_is_standardized_and_cached(
    engine: SynthesisEngine, ssl, reference, tmp_path
) -> None:
    import soundfile as sf

    audio, rate = reference
    path = tmp_path / "ref.wav"
    sf.write(path, np.stack([audio, audio], axis=1), rate, subtype="PCM_16")  # stereo
    voice = engine.prepare_voice(path, "Hello there.", "en")
    assert engine.prepare_voice(str(path), "Hello there.", "en") is voice
    assert ssl.calls == 1 and voice.duration_s == pytest.approx(4.0)


def test_without_prompt_text_the_voice_is_reference_free(
    engine: SynthesisEngine, ssl, reference
) -> None:
    voice = engine.prepare_voice(reference, None)
    assert voice.reference_free and voice.prompt_phone_ids == () and ssl.calls == 0
    result = engine.synthesize("Reference free speech works too.", voice, FAST)
    assert result.audio.size == result.segments[0].tokens * SAMPLES_PER_TOKEN


@pytest.mark.parametrize(("seconds", "reason"), [(2.5, "reference_too_short"),
                                                 (10.5, "reference_too_long")])  # fmt: skip
def test_references_outside_3_to_10_seconds_are_refused(
    engine: SynthesisEngine, make_clip, seconds: float, reason: str
) -> None:
    with pytest.raises(SynthesisError) as info:
        engine.prepare_voice((make_clip(seconds), 24000), "Hello there.")
    assert info.value.reason == reason and isinstance(info.value, RejectedInput)


def test_output_length_follows_token_counts(engine: SynthesisEngine, reference) -> None:
    voice = engine.prepare_voice(reference, "Hello there.", "en")
    result = engine.synthesize(TEXT, voice, FAST)
    segments = result.segments
    assert [s.text for s in segments] == ["Hello world.", "你好，世界。",
                                          "This is another sentence here."]  # fmt: skip
    gap = round(0.3 * 32000)
    tokens = sum(s.tokens for s in segments)
    assert result.audio.shape == (tokens * SAMPLES_PER_TOKEN + gap * (len(segments) - 1),)
    assert result.audio.dtype == np.float32 and result.sample_rate == 32000
    for prev, seg in itertools.pairwise(segments):
        assert seg.start_s - prev.end_s == pytest.approx(0.3)
    for seg in segments:
        assert seg.end_s - seg.start_s == pytest.approx(seg.tokens * SAMPLES_PER_TOKEN / 32000)
    assert segments[-1].end_s == pytest.approx(result.duration_s)


def test_same_seed_same_audio_and_batching_does_not_change_it(
    engine: SynthesisEngine, reference
) -> None:
    voice = engine.prepare_voice(reference, "Hello there.", "en")
    one = engine.synthesize(TEXT, voice, FAST)
    batched = engine.synthesize(TEXT, voice, FAST.model_copy(update={"batch_size": 3}))
    other = engine.synthesize(TEXT, voice, FAST.model_copy(update={"seed": 8}))
    assert one.seed == 7
    np.testing.assert_array_equal(one.audio, batched.audio)
    assert one.audio.shape != other.audio.shape or not np.array_equal(one.audio, other.audio)


def test_many_texts_decode_together_as_each_alone(engine: SynthesisEngine, reference) -> None:
    voice = engine.prepare_voice(reference, "Hello there.", "en")
    texts = [TEXT, "🙂 🙂", "Hello world.", TEXT]
    preset = FAST.model_copy(update={"batch_size": 4})
    results = engine.synthesize_many(texts, voice, preset)
    assert len(results) == 4
    assert isinstance(results[1], SynthesisError) and results[1].reason == "nothing_to_say"
    for text, result in zip(texts, results, strict=True):
        if text != "🙂 🙂":
            alone = engine.synthesize(text, voice, FAST)
            np.testing.assert_array_equal(result.audio, alone.audio)
            assert result.segments == alone.segments


def test_random_seed_is_reported_and_reproduces(engine: SynthesisEngine, reference) -> None:
    voice = engine.prepare_voice(reference, None)
    drawn = engine.synthesize("Hello world.", voice, FAST.model_copy(update={"seed": -1}))
    again = engine.synthesize("Hello world.", voice, FAST.model_copy(update={"seed": drawn.seed}))
    np.testing.assert_array_equal(drawn.audio, again.audio)


def test_stream_concatenates_to_synthesize(engine: SynthesisEngine, reference) -> None:
    voice = engine.prepare_voice(reference, "Hello there.", "en")
    preset = FAST.model_copy(update={"batch_size": 2})
    chunks = list(engine.stream(TEXT, voice, preset))
    assert len(chunks) == 3
    np.testing.assert_array_equal(
        np.concatenate(chunks), engine.synthesize(TEXT, voice, preset).audio
    )


def test_speed_shortens_the_audio(engine: SynthesisEngine, reference) -> None:
    voice = engine.prepare_voice(reference, None)
    normal = engine.synthesize("Hello world.", voice, FAST)
    fast = engine.synthesize("Hello world.", voice, FAST.model_copy(update={"speed": 2.0}))
    assert normal.segments[0].tokens == fast.segments[0].tokens
    assert fast.audio.size == pytest.approx(normal.audio.size / 2, abs=640)


def test_unspeakable_text_is_refused(engine: SynthesisEngine, reference) -> None:
    voice = engine.prepare_voice(reference, None)
    with pytest.raises(SynthesisError) as info:
        engine.synthesize("🙂 🙂", voice, FAST)
    assert info.value.reason == "nothing_to_say"


def test_mismatched_parts_fail_clearly(make_models, make_ssl) -> None:
    gpt, sovits = make_models()
    with pytest.raises(SynthesisError) as info:
        SynthesisEngine(gpt, sovits, make_ssl(dim=384))  # Whisper tiny.en width vs HuBERT
    assert info.value.reason == "ssl_dim_mismatch" and "384" in info.value.detail


def test_checkpoints_with_different_codebooks_are_refused(make_models, make_ssl) -> None:
    from voicemill.model.sovits import SoVITSConfig, SynthesizerTrn

    gpt, _ = make_models()
    small_codebook = SynthesizerTrn(SoVITSConfig.tiny())  # 64 codes; this GPT emits 1024
    with pytest.raises(SynthesisError) as info:
        SynthesisEngine(gpt, small_codebook, make_ssl(small_codebook.ssl_proj.in_channels))
    assert info.value.reason == "codebook_mismatch"


def test_tiny_presets_fit_together(make_ssl, make_clip, tmp_path) -> None:
    """A tiny s1 and a tiny s2, built from their presets or written by ``checkpoint init``,
    pass the engine's checks and synthesize."""
    from click.testing import CliRunner

    from voicemill.commands.checkpoint import checkpoint
    from voicemill.model.files import build_models, initial_file_names
    from voicemill.model.gpt import load_model
    from voicemill.model.sovits import load_s2_generator

    gpt, sovits, _ = build_models("tiny", seed=0)
    assert gpt.config.vocab_size - 1 == sovits.cfg.codebook_size == 64
    SynthesisEngine(gpt, sovits.prepare_for_inference(), make_ssl(sovits.cfg.ssl_dim))

    result = CliRunner().invoke(checkpoint, ["init", "--preset", "tiny", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    names = initial_file_names("tiny")
    for part in names.values():
        inspected = CliRunner().invoke(checkpoint, ["inspect", str(tmp_path / part)])
        assert inspected.exit_code == 0 and "preset: tiny (matches)" in inspected.output
    gpt, _ = load_model(tmp_path / names["s1"])
    s2 = load_s2_generator(tmp_path / names["s2G"])
    engine = SynthesisEngine(gpt, s2, make_ssl(s2.cfg.ssl_dim))
    voice = engine.prepare_voice((make_clip(4.0), 24000), None, "en")
    result = engine.synthesize("Tiny presets speak.", voice, FAST)
    assert result.audio.size > 0
