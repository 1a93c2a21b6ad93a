"""Hyperparameters of the SoVITS stage (s2), v2 architecture.

One flat, frozen record: the official ``s2.json`` splits the same values into
``data``/``model``/``train`` sections, which :meth:`SoVITSConfig.to_hparams` and
:meth:`SoVITSConfig.from_hparams` translate to and from.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from typing import Any, ClassVar


@dataclass(frozen=True)
class SoVITSConfig:
    # data
    sampling_rate: int = 32000
    filter_length: int = 2048  # n_fft; spec_channels = filter_length // 2 + 1 = 1025
    hop_length: int = 640  # 50 Hz frames
    win_length: int = 2048
    n_mel_channels: int = 128  # mel loss only
    mel_fmin: float = 0.0
    mel_fmax: float | None = None
    # model
    inter_channels: int = 192
    hidden_channels: int = 192
    filter_channels: int = 768
    n_heads: int = 2
    n_layers: int = 6  # encoder_text; encoder_ssl and encoder2 use n_layers // 2
    kernel_size: int = 3
    p_dropout: float = 0.1
    resblock: str = "1"
    resblock_kernel_sizes: tuple[int, ...] = (3, 7, 11)
    resblock_dilation_sizes: tuple[tuple[int, ...], ...] = ((1, 3, 5), (1, 3, 5), (1, 3, 5))
    upsample_rates: tuple[int, ...] = (10, 8, 2, 2, 2)
    upsample_initial_channel: int = 512
    upsample_kernel_sizes: tuple[int, ...] = (16, 16, 8, 2, 2)
    n_layers_q: int = 3  # unused by v2 (enc_q has 16 WaveNet layers); kept for s2.json
    gin_channels: int = 512  # also the MRTE width: ge is added to the 512-d MRTE stream
    semantic_frame_rate: str = "25hz"
    freeze_quantizer: bool = True
    n_symbols: int = 732
    ref_enc_bins: int = 704  # ref_enc reads the first 704 of the 1025 linear bins
    ssl_dim: int = 768
    codebook_size: int = 1024
    enc_q_layers: int = 16
    n_flows: int = 4
    mrte_heads: int = 4
    ref_enc_hidden: int = 128
    # train
    segment_size: int = 20480  # samples (32 frames)
    c_mel: float = 45.0
    c_kl: float = 1.0
    # s2.json keys we do not model (sections' extra keys and top-level ones), kept for writing
    extra: Mapping[str, Any] = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        if math.prod(self.upsample_rates) != self.hop_length:
            raise ValueError(
                f"upsample_rates {self.upsample_rates} multiply to "
                f"{math.prod(self.upsample_rates)}, not hop_length {self.hop_length}"
            )
        if self.semantic_frame_rate != "25hz":
            raise ValueError("only the 25 Hz semantic frame rate (v2) is supported")
        if self.resblock != "1":
            raise ValueError("only HiFi-GAN resblock type '1' (v2) is supported")
        if self.segment_size % self.hop_length:
            raise ValueError("segment_size must be a whole number of frames")

    @property
    def spec_channels(self) -> int:
        return self.filter_length // 2 + 1

    @property
    def segment_frames(self) -> int:
        return self.segment_size // self.hop_length

    @classmethod
    def v2(cls) -> SoVITSConfig:
        """The official v2 configuration (``configs/s2.json``)."""
        return cls()

    @classmethod
    def tiny(cls) -> SoVITSConfig:
        """Same structure, small widths: trains on a CPU in minutes. 640 = 10 * 8 * 8.

        Its 64-code codebook matches ``GPTConfig.tiny()`` (64 semantic codes + EOS), so a tiny
        s1 and a tiny s2 synthesize together; train it with ``MultiPeriodDiscriminator.tiny()``
        (all v2 periods at 1/8 of the channels). It reads 384-wide SSL features, the
        encoder of the bundled whisper tiny.en that is the platform's offline SSL extractor.
        """
        return cls(
            ssl_dim=384,
            inter_channels=16,
            hidden_channels=32,
            filter_channels=64,
            n_layers=2,
            p_dropout=0.0,
            resblock_kernel_sizes=(3, 5),
            resblock_dilation_sizes=((1, 3), (1, 3)),
            upsample_rates=(10, 8, 8),
            upsample_initial_channel=64,
            upsample_kernel_sizes=(20, 16, 16),
            gin_channels=32,
            codebook_size=64,
            enc_q_layers=2,
            n_flows=2,
            ref_enc_hidden=32,
            segment_size=640 * 8,
            freeze_quantizer=False,  # from scratch the codebook must learn (k-means init)
        )

    # -- official s2.json layout -------------------------------------------------

    _DATA_KEYS = (
        "sampling_rate",
        "filter_length",
        "hop_length",
        "win_length",
        "n_mel_channels",
        "mel_fmin",
        "mel_fmax",
    )
    _MODEL_KEYS = (
        "inter_channels",
        "hidden_channels",
        "filter_channels",
        "n_heads",
        "n_layers",
        "kernel_size",
        "p_dropout",
        "resblock",
        "resblock_kernel_sizes",
        "resblock_dilation_sizes",
        "upsample_rates",
        "upsample_initial_channel",
        "upsample_kernel_sizes",
        "n_layers_q",
        "gin_channels",
        "semantic_frame_rate",
        "freeze_quantizer",
    )
    _TRAIN_KEYS = ("segment_size", "c_mel", "c_kl")
    # Keys of the official s2.json data/model sections that we do not model, with its
    # values. Upstream's inference loaders read ``data.n_speakers`` unconditionally (the
    # SynthesizerTrn argument), so every file we write carries these sections complete.
    _UPSTREAM_ONLY: ClassVar[Mapping[str, Mapping[str, Any]]] = {
        "data": {
            "max_wav_value": 32768.0,
            "add_blank": True,
            "n_speakers": 300,
            "cleaned_text": True,
        },
        "model": {"use_spectral_norm": False},
    }

    def to_hparams(self) -> dict[str, Any]:
        """The nested ``{"data", "model", "train"}`` dict of the official s2.json.

        The data and model sections hold every s2.json key (``_UPSTREAM_ONLY`` fills the
        ones we do not model with s2.json's values unless ``extra`` has them); the train
        section only the keys we model plus ``extra``'s.
        """
        values = asdict(self)
        out: dict[str, Any] = {}
        for section, keys in (
            ("data", self._DATA_KEYS),
            ("model", self._MODEL_KEYS),
            ("train", self._TRAIN_KEYS),
        ):
            out[section] = {k: _to_json(values[k]) for k in keys}
            out[section].update(self._UPSTREAM_ONLY.get(section, {}))
        # Our own structural knobs go under "model" only when they differ from v2, so
        # official-size exports carry exactly the upstream keys.
        official = {*self._DATA_KEYS, *self._MODEL_KEYS, *self._TRAIN_KEYS, "extra"}
        default = asdict(SoVITSConfig())
        for key, value in values.items():
            if key not in official and value != default[key]:
                out["model"][key] = _to_json(value)
        for key, value in self.extra.items():
            if key in _SECTIONS:
                out[key].update(value)
            else:
                out[key] = value
        out["model"]["version"] = "v2"
        return out

    @classmethod
    def from_hparams(cls, hps: Mapping[str, Any]) -> SoVITSConfig:
        """Read the official nested layout; keys we do not model are kept in ``extra``."""
        known = {f.name for f in fields(cls)} - {"extra"}
        kwargs: dict[str, Any] = {}
        extra: dict[str, Any] = {}
        for key, value in hps.items():
            if key not in _SECTIONS:
                extra[key] = value  # e.g. upstream's top-level paths and names
                continue
            for name, item in dict(value).items():
                if name in known:
                    kwargs[name] = _to_tuple(item)
                else:
                    extra.setdefault(key, {})[name] = item
        return cls(**kwargs, extra=extra)


_SECTIONS = ("data", "model", "train")


def _to_json(value: Any) -> Any:
    if isinstance(value, tuple):
        return [_to_json(v) for v in value]
    return value


def _to_tuple(value: Any) -> Any:
    if isinstance(value, list):
        return tuple(_to_tuple(v) for v in value)
    return value
