"""Text + reference voice -> 32 kHz speech with the s1 GPT and the s2 SoVITS decoder.

Flow per request (FACTS §5-§8): split the text into sentences, phonemize each (plus
BERT features, zeros without a BERT model, as upstream does for non-zh text), prepend
the prompt's phones/BERT/semantic codes unless the voice is reference-free, sample
semantic tokens in batches, decode each segment with the reference spectrogram, and
join segments with ``fragment_interval_s`` of silence.

Segment ``i`` always uses seed ``seed + i`` for both stages, so its audio does not
depend on batch size or on whether it is streamed.
"""

from __future__ import annotations

import secrets
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import cast

import numpy as np
import torch

from voicemill.audio.standardize import standardize_array
from voicemill.errors import RejectedInput
from voicemill.features.bert import BertFeatureExtractor
from voicemill.features.ssl import SSLExtractor, load_ssl
from voicemill.model.gpt import DecodeRequest, Text2SemanticModel, generate, load_model
from voicemill.model.precision import (
    Precision,
    apply_gpt_precision,
    apply_sovits_precision,
    resolve_precision,
)
from voicemill.model.sovits import SynthesizerTrn, load_s2_generator
from voicemill.model.sovits.spectrogram import spectrogram
from voicemill.synthesis.chunked import ChunkedVocoder, ChunkPlan
from voicemill.synthesis.errors import SynthesisError
from voicemill.synthesis.types import (
    MODEL_SAMPLE_RATE,
    InferencePreset,
    SegmentTiming,
    SynthesisResult,
)
from voicemill.synthesis.voice import (
    ReferenceAudio,
    Voice,
    check_reference_duration,
    read_reference,
    voice_key,
)
from voicemill.text.frontend import Phonemes, split_for_synthesis, text_to_phonemes
from voicemill.text.lexicon import Lexicon
from voicemill.text.normalize import TextError

# Upstream appends int(0.3 * 32000) zeros to the 16 kHz prompt before HuBERT (0.6 s): the
# prompt codes then end in silence, which keeps the GPT from continuing the prompt's word.
PROMPT_PAD_SAMPLES = int(0.3 * 32000)
MAX_CACHED_VOICES = 32


@dataclass(frozen=True)
class Segment:
    """One model call's worth of text (a sentence or clause) with its phonemes."""

    index: int
    text: str
    phonemes: Phonemes
    bert: torch.Tensor  # [bert_dim, n_phones]


class SynthesisEngine:
    """Loaded models plus a cache of prepared voices; one instance serves many requests."""

    def __init__(
        self,
        gpt: Text2SemanticModel,
        sovits: SynthesizerTrn,
        ssl: SSLExtractor,
        bert: BertFeatureExtractor | None = None,
        *,
        lexicon: Lexicon | None = None,
        device: str | torch.device = "cpu",
        precision: Precision | str = Precision.FP32,
    ) -> None:
        """Takes built modules (``from_paths`` loads them); checks that they fit together.

        ``precision`` (see `voicemill.model.precision`) casts the modules in place: fp32
        gives the same audio for a seed on every machine, int8/bf16 are 2-3x faster on
        CPUs with bf16 arithmetic.
        """
        if ssl.dim != sovits.cfg.ssl_dim:
            raise SynthesisError(
                "ssl_dim_mismatch",
                f"the SSL extractor gives {ssl.dim}-d features but the s2 model's ssl_proj "
                f"expects {sovits.cfg.ssl_dim}-d: use the extractor it was trained with",
            )
        codes = gpt.config.vocab_size - 1  # every token but EOS is a semantic code
        if codes != sovits.cfg.codebook_size:
            raise SynthesisError(
                "codebook_mismatch",
                f"the s1 model emits {codes} semantic codes, the s2 codebook has "
                f"{sovits.cfg.codebook_size}: these checkpoints were not trained together",
            )
        bert_dim = gpt.config.bert_dim
        if bert is not None and bert.dim != bert_dim:
            raise SynthesisError(
                "bert_dim_mismatch", f"BERT gives {bert.dim}-d features, the s1 model {bert_dim}-d"
            )
        self.device = torch.device(device)
        self.precision = resolve_precision(precision, self.device)
        self.gpt = apply_gpt_precision(gpt.to(self.device).eval(), self.precision)
        # Inference only: weight norm is folded into plain weights (idempotent, faster).
        sovits = sovits.to(self.device).prepare_for_inference()
        self.sovits = apply_sovits_precision(sovits, self.precision)
        self.ssl = ssl
        self.bert = bert
        self.lexicon = lexicon
        self._voices: OrderedDict[str, Voice] = OrderedDict()

    @classmethod
    def from_paths(
        cls,
        s1: str | Path,
        s2: str | Path,
        ssl: str | Path | None = None,
        bert: str | Path | None = None,
        device: str = "cpu",
        lexicon: Lexicon | None = None,
        precision: Precision | str = Precision.FP32,
    ) -> SynthesisEngine:
        """Load an s1 ``.ckpt``, an s2 ``.pth``, an SSL dir (default: bundled Whisper
        encoder) and optionally a BERT dir (without one, BERT features are zeros)."""
        gpt, _ = load_model(s1)
        sovits = load_s2_generator(s2)
        extractor = load_ssl(ssl)
        bert_model = BertFeatureExtractor(bert, device=device) if bert is not None else None
        return cls(
            gpt, sovits, extractor, bert_model, lexicon=lexicon, device=device, precision=precision
        )

    # -- voices -------------------------------------------------------------------

    def prepare_voice(
        self,
        reference_audio: ReferenceAudio,
        prompt_text: str | None = None,
        language: str = "auto",
    ) -> Voice:
        """Standardize a 3-10 s reference and compute its prompt features (cached by content).

        Without ``prompt_text`` the voice is reference-free: only its timbre (spectrogram)
        is used and the GPT gets no prompt.
        """
        audio, rate = read_reference(reference_audio)
        prompt_text = prompt_text.strip() if prompt_text and prompt_text.strip() else None
        key = voice_key(audio, rate, prompt_text, language)
        if (cached := self._voices.get(key)) is not None:
            self._voices.move_to_end(key)
            return cached
        check_reference_duration(audio.shape[0] / rate)
        standard = standardize_array(audio, rate)  # the same path as ingestion
        model_audio = torch.from_numpy(standard.model_audio).to(self.device)  # [S32]
        peak = float(model_audio.abs().max())
        if peak > 1.0:  # upstream: divide by min(2, peak) before the spectrogram
            model_audio = model_audio / min(2.0, peak)
        cfg = self.sovits.cfg
        refer_spec = spectrogram(
            model_audio[None], cfg.filter_length, cfg.hop_length, cfg.win_length
        )  # [1, 1025, Tr]
        prompt_semantic, ids, bert = None, (), torch.zeros(self.gpt.config.bert_dim, 0)
        if prompt_text is not None:
            phonemes = text_to_phonemes(prompt_text, language, self.lexicon)
            ids, bert = tuple(phonemes.ids), self._bert_features(phonemes)
            prompt_semantic = self._prompt_codes(standard.ssl_audio)
        voice = Voice(
            key=key,
            duration_s=standard.measurements.duration_s,
            refer_spec=refer_spec,
            prompt_semantic=prompt_semantic,
            prompt_phone_ids=ids,
            prompt_bert=bert,
            prompt_text=prompt_text,
        )
        self._voices[key] = voice
        if len(self._voices) > MAX_CACHED_VOICES:
            self._voices.popitem(last=False)
        return voice

    @torch.inference_mode()
    def _prompt_codes(self, ssl_audio: np.ndarray) -> torch.Tensor:
        padded = np.concatenate([ssl_audio, np.zeros(PROMPT_PAD_SAMPLES, dtype=np.float32)])
        features = self.ssl.extract(padded).to(self.device)  # [1, ssl_dim, T50]
        codes = self.sovits.extract_latent(features)  # [1, 1, T25]
        return codes[0]  # [1, Tp]

    def _bert_features(self, phonemes: Phonemes) -> torch.Tensor:
        if self.bert is None:
            return torch.zeros(self.gpt.config.bert_dim, len(phonemes.ids))
        return self.bert.phoneme_features(phonemes)  # [bert_dim, n_phones]

    # -- synthesis ----------------------------------------------------------------

    def synthesize(
        self,
        text: str,
        voice: Voice,
        preset: InferencePreset | None = None,
        language: str = "auto",
    ) -> SynthesisResult:
        """The whole utterance at once, with where each segment lies in it."""
        preset = preset or InferencePreset()
        seed = _resolve_seed(preset.seed)
        pieces: list[np.ndarray] = []
        timings: list[SegmentTiming] = []
        offset = 0
        for chunk, silence, segment, tokens in self._render(text, voice, preset, language, seed):
            pieces.append(chunk)
            start = offset + silence
            offset += chunk.shape[0]
            timings.append(
                SegmentTiming(
                    text=segment,
                    start_s=start / MODEL_SAMPLE_RATE,
                    end_s=offset / MODEL_SAMPLE_RATE,
                    tokens=tokens,
                )
            )
        audio = np.concatenate(pieces).astype(np.float32, copy=False)
        return SynthesisResult(audio=audio, segments=timings, seed=seed)

    def synthesize_many(
        self,
        texts: Sequence[str],
        voice: Voice,
        preset: InferencePreset | None = None,
        language: str = "auto",
    ) -> list[SynthesisResult | RejectedInput]:
        """Many utterances with one voice and preset, the GPT decoding across texts.

        Segments of all ``texts`` share GPT batches of ``preset.batch_size`` rows; each
        row keeps its own seed (the preset's seed + its index within its text), so every
        result equals ``synthesize`` of that text alone. A text that cannot be read
        gets its error in its place instead of failing the others.
        """
        preset = preset or InferencePreset()
        seed = _resolve_seed(preset.seed)
        outcomes: list[SynthesisResult | RejectedInput | None] = [None] * len(texts)
        work: list[tuple[int, Segment]] = []
        for i, text in enumerate(texts):
            try:
                work.extend((i, segment) for segment in self.segments(text, language))
            except RejectedInput as exc:
                outcomes[i] = exc
        tokens: dict[tuple[int, int], torch.Tensor] = {}
        for start in range(0, len(work), preset.batch_size):
            batch = work[start : start + preset.batch_size]
            decoded = self._tokens([segment for _, segment in batch], voice, preset, seed)
            for (i, segment), row in zip(batch, decoded, strict=True):
                tokens[i, segment.index] = row
        gap = np.zeros(round(preset.fragment_interval_s * MODEL_SAMPLE_RATE), dtype=np.float32)
        by_text: dict[int, list[Segment]] = {}
        for i, segment in work:
            by_text.setdefault(i, []).append(segment)
        for i, segments in by_text.items():
            pieces, timings, offset = [], [], 0
            for segment in segments:
                row = tokens[i, segment.index]
                audio = self.decode_tokens(segment, row, voice, preset, seed)
                silence = gap if segment.index else gap[:0]
                pieces.append(np.concatenate([silence, audio]))
                offset += pieces[-1].shape[0]
                timings.append(
                    SegmentTiming(
                        text=segment.text,
                        start_s=(offset - audio.shape[0]) / MODEL_SAMPLE_RATE,
                        end_s=offset / MODEL_SAMPLE_RATE,
                        tokens=row.numel(),
                    )
                )
            audio = np.concatenate(pieces).astype(np.float32, copy=False)
            outcomes[i] = SynthesisResult(audio=audio, segments=timings, seed=seed)
        return cast(list[SynthesisResult | RejectedInput], outcomes)  # every slot is filled

    def stream(
        self,
        text: str,
        voice: Voice,
        preset: InferencePreset | None = None,
        language: str = "auto",
    ) -> Iterator[np.ndarray]:
        """Float32 32 kHz chunks, one per segment as soon as its batch is decoded.

        Chunks after the first start with the inter-segment silence, so their
        concatenation is exactly ``synthesize``'s audio for the same seed.
        """
        preset = preset or InferencePreset()
        seed = _resolve_seed(preset.seed)
        for chunk, _, _, _ in self._render(text, voice, preset, language, seed):
            yield chunk

    def stream_timed(
        self,
        text: str,
        voice: Voice,
        preset: InferencePreset | None = None,
        language: str = "auto",
    ) -> Iterator[tuple[np.ndarray, SegmentTiming]]:
        """:meth:`stream`'s chunks, each with where its segment lies in the whole audio."""
        preset = preset or InferencePreset()
        seed = _resolve_seed(preset.seed)
        offset = 0
        for chunk, silence, segment, tokens in self._render(text, voice, preset, language, seed):
            start = offset + silence
            offset += chunk.shape[0]
            yield (
                chunk,
                SegmentTiming(
                    text=segment,
                    start_s=start / MODEL_SAMPLE_RATE,
                    end_s=offset / MODEL_SAMPLE_RATE,
                    tokens=tokens,
                ),
            )

    def render_chunked(
        self,
        text: str,
        voice: Voice,
        preset: InferencePreset | None = None,
        language: str = "auto",
        plan: ChunkPlan | None = None,
    ) -> np.ndarray:
        """The audio a streamed service request gets: each segment vocoded in token chunks
        (:mod:`voicemill.synthesis.chunked`) as the service does while tokens arrive. Chunk
        boundaries depend on token counts only, so this equals the service's stream."""
        preset = preset or InferencePreset()
        seed = _resolve_seed(preset.seed)
        chunks = self._render(text, voice, preset, language, seed, plan or ChunkPlan())
        return np.concatenate([c for c, _, _, _ in chunks]).astype(np.float32, copy=False)

    def chunked_vocoder(
        self,
        segment: Segment,
        voice: Voice,
        preset: InferencePreset,
        seed: int,
        plan: ChunkPlan | None = None,
    ) -> ChunkedVocoder:
        """Vocodes ``segment`` chunk by chunk as its tokens arrive (see :meth:`render_chunked`)."""
        plan = plan or ChunkPlan()
        return ChunkedVocoder(
            lambda window, noise_seed: self.vocode(segment, window, voice, preset, noise_seed),
            noise_seed=seed + segment.index,
            plan=plan if segment.index == 0 else plan.after_first_segment(),
        )

    def _render(
        self,
        text: str,
        voice: Voice,
        preset: InferencePreset,
        language: str,
        seed: int,
        chunk_plan: ChunkPlan | None = None,
    ) -> Iterator[tuple[np.ndarray, int, str, int]]:
        """Yield (chunk, its leading silence in samples, segment text, token count) in order;
        each segment vocoded whole, or in token chunks by ``chunk_plan``."""
        segments = self.segments(text, language)  # all text errors surface before any audio
        gap = np.zeros(round(preset.fragment_interval_s * MODEL_SAMPLE_RATE), dtype=np.float32)
        for start in range(0, len(segments), preset.batch_size):
            batch = segments[start : start + preset.batch_size]
            batch_tokens = self._tokens(batch, voice, preset, seed)
            for segment, tokens in zip(batch, batch_tokens, strict=True):
                if chunk_plan is None:
                    audio = self.decode_tokens(segment, tokens, voice, preset, seed)
                else:
                    vocoder = self.chunked_vocoder(segment, voice, preset, seed, chunk_plan)
                    audio = np.concatenate([gap[:0], *vocoder.push(tokens.tolist(), True)])
                silence = gap if segment.index else gap[:0]
                chunk = np.concatenate([silence, audio])
                yield chunk, silence.shape[0], segment.text, tokens.numel()

    def segments(self, text: str, language: str) -> list[Segment]:
        segments: list[Segment] = []
        for piece in split_for_synthesis(text):
            try:
                phonemes = text_to_phonemes(piece, language, self.lexicon)
            except TextError as exc:
                if exc.reason != "empty_text":
                    raise
                continue  # e.g. a run of emoji between sentences: nothing to say there
            segments.append(Segment(len(segments), piece, phonemes, self._bert_features(phonemes)))
        if not segments:
            raise SynthesisError("nothing_to_say", f"no speakable text in {text[:40]!r}")
        return segments

    def decode_request(
        self, segment: Segment, voice: Voice, preset: InferencePreset, seed: int
    ) -> DecodeRequest:
        """The GPT work of one segment as a :class:`ContinuousDecoder` request: the row
        :meth:`_tokens` would decode for it, with the same seed, so the tokens are equal."""
        bert = torch.cat([voice.prompt_bert, segment.bert], dim=1)  # [bert_dim, Tx]
        prompt = voice.prompt_semantic[0] if voice.prompt_semantic is not None else None
        return DecodeRequest(
            phone_ids=torch.tensor(list(voice.prompt_phone_ids) + segment.phonemes.ids),
            bert=bert,
            prompt_semantic=prompt,
            top_k=preset.top_k,
            top_p=preset.top_p,
            temperature=preset.temperature,
            repetition_penalty=preset.repetition_penalty,
            max_new_tokens=preset.max_new_tokens,
            seed=seed + segment.index,
        )

    @torch.inference_mode()
    def _tokens(
        self, batch: list[Segment], voice: Voice, preset: InferencePreset, seed: int
    ) -> list[torch.Tensor]:
        """Semantic tokens [T_i] per segment; the prompt precedes each segment's text."""
        rows = [list(voice.prompt_phone_ids) + seg.phonemes.ids for seg in batch]
        lens = torch.tensor([len(r) for r in rows], device=self.device)  # [B]
        phone_ids = torch.zeros(len(rows), int(lens.max()), dtype=torch.long, device=self.device)
        bert = torch.zeros(len(rows), self.gpt.config.bert_dim, phone_ids.shape[1])  # [B, D, Tx]
        for i, (row, seg) in enumerate(zip(rows, batch, strict=True)):
            phone_ids[i, : len(row)] = torch.tensor(row)
            bert[i, :, : len(row)] = torch.cat([voice.prompt_bert, seg.bert], dim=1)
        prompt = voice.prompt_semantic
        if prompt is not None:
            prompt = prompt.expand(len(rows), -1)  # [B, Tp]
        return generate(
            self.gpt,
            phone_ids,
            lens,
            bert.to(self.device),
            prompt,
            top_k=preset.top_k,
            top_p=preset.top_p,
            temperature=preset.temperature,
            repetition_penalty=preset.repetition_penalty,
            max_new_tokens=preset.max_new_tokens,
            seed=[seed + seg.index for seg in batch],
        )

    def decode_tokens(
        self,
        segment: Segment,
        tokens: torch.Tensor,
        voice: Voice,
        preset: InferencePreset,
        seed: int,
    ) -> np.ndarray:
        """Tokens [T] -> float32 audio [~2 * T * 640 / speed], peak-normalized if above 1."""
        if tokens.numel() == 0:
            return np.zeros(0, dtype=np.float32)
        audio = self.vocode(segment, tokens, voice, preset, seed + segment.index)
        peak = float(np.abs(audio).max())
        return audio / peak if peak > 1.0 else audio  # upstream normalizes each fragment

    @torch.inference_mode()
    def vocode(
        self,
        segment: Segment,
        tokens: torch.Tensor,
        voice: Voice,
        preset: InferencePreset,
        noise_seed: int,
    ) -> np.ndarray:
        """SoVITS alone: tokens [T] (a whole segment's or a window of them) -> raw audio."""
        generator = torch.Generator(device=self.device).manual_seed(noise_seed)
        wav = self.sovits.decode(
            tokens.view(1, 1, -1).to(self.device),  # [1, 1, T25]
            torch.tensor([segment.phonemes.ids], device=self.device),  # [1, Np]
            voice.refer_spec,
            noise_scale=preset.noise_scale,
            speed=preset.speed,
            generator=generator,
        )  # [1, 1, S]
        return wav[0, 0].float().cpu().numpy()


def _resolve_seed(seed: int) -> int:
    return secrets.randbelow(2**31) if seed == -1 else seed
