"""Reading and writing official s2 generator files (``SoVITS_weights_v2/*.pth``).

Layout: ``torch.save({"weight": fp16 state dict without enc_q.*, "config": hps,
"info": str})`` where ``hps`` is a pickled upstream ``utils.HParams`` object. We read
it with torch's weights-only unpickler, allow-listing the name ``utils.HParams`` as
our own :class:`HParams`, so loading never imports or runs foreign code; we write it
with a pickler that names our class ``utils.HParams``, so upstream loads our files.

Upstream may mark its files by replacing the zip magic ``PK`` with a two-byte tag:
``00`` v1, ``01`` v2, ``02`` v3, ``03`` v3 (LoRA), ``04`` v4 (LoRA), ``05`` v2Pro,
``06`` v2ProPlus; current upstream writes plain ``PK`` for v1/v2 and reads all of them.
We restore ``PK`` to read them, then refuse anything that is not v2. A ``00``/``01`` tag
names the generation only: upstream's loaders rebuild such a model from its weights'
shapes (the text embedding's rows), and so do we (:func:`resolve_version`).
"""

from __future__ import annotations

import io
import os
import pickle
import tempfile
import types
from collections.abc import ItemsView, Iterator, KeysView, Mapping, ValuesView
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from voicemill.model.errors import CheckpointError
from voicemill.model.sovits.config import SoVITSConfig
from voicemill.model.sovits.synthesizer import SynthesizerTrn, drop_enc_q

HEADER_VERSIONS = {
    b"00": "v1",
    b"01": "v2",
    b"02": "v3",
    b"03": "v3",
    b"04": "v4",
    b"05": "v2Pro",
    b"06": "v2ProPlus",
}
SHAPE_DECIDED = frozenset({"v1", "v2"})  # header versions the weights' shapes refine
UPSTREAM_HPARAMS = ("utils", "HParams")


class HParams:
    """Attribute dict with upstream ``utils.HParams`` semantics (nested dicts become HParams).

    Pickles as ``utils.HParams`` through :func:`write_s2_generator`; its pickled state
    is the plain ``__dict__``, exactly what upstream's class expects.
    """

    def __init__(self, **kwargs: Any) -> None:
        for key, value in kwargs.items():
            self[key] = HParams(**value) if isinstance(value, dict) else value

    def __getitem__(self, key: str) -> Any:
        return getattr(self, key)

    def __setitem__(self, key: str, value: Any) -> None:
        setattr(self, key, value)

    def __contains__(self, key: object) -> bool:
        return key in self.__dict__

    def __len__(self) -> int:
        return len(self.__dict__)

    def __iter__(self) -> Iterator[str]:
        return iter(self.__dict__)

    def keys(self) -> KeysView[str]:
        return self.__dict__.keys()

    def items(self) -> ItemsView[str, Any]:
        return self.__dict__.items()

    def values(self) -> ValuesView[Any]:
        return self.__dict__.values()

    def get(self, key: str, default: Any = None) -> Any:
        return self.__dict__.get(key, default)

    def to_dict(self) -> dict[str, Any]:
        return {k: v.to_dict() if isinstance(v, HParams) else v for k, v in self.items()}

    def __repr__(self) -> str:
        return repr(self.__dict__)


@dataclass
class S2Checkpoint:
    weight: dict[str, torch.Tensor]  # as stored (fp16), no enc_q.*
    config: SoVITSConfig
    hparams: dict[str, Any]  # the full upstream config, plain dicts
    info: str | None


def load_s2_file(path: str | os.PathLike[str]) -> tuple[Any, str | None]:
    """Unpickle any official ``.pth``/``.ckpt`` safely; also returns the header's version.

    Only tensors, plain containers and ``utils.HParams`` are allowed, so a foreign or
    malicious pickle fails as ``foreign_checkpoint`` instead of running code.
    """
    path = Path(path)
    data = path.read_bytes()
    if len(data) < 64:
        raise CheckpointError("truncated_checkpoint", f"{path}: only {len(data)} bytes")
    header_version = HEADER_VERSIONS.get(data[:2])
    if header_version is not None:
        data = b"PK" + data[2:]
    elif data[:2] != b"PK":
        raise CheckpointError("not_a_checkpoint", f"{path}: not a torch zip checkpoint")
    try:
        with torch.serialization.safe_globals([(HParams, ".".join(UPSTREAM_HPARAMS))]):
            obj = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        raise CheckpointError("foreign_checkpoint", f"{path}: {exc}") from exc
    except (RuntimeError, EOFError, ValueError) as exc:
        # torch reports a cut-off or damaged zip archive as RuntimeError.
        raise CheckpointError("truncated_checkpoint", f"{path}: unreadable archive: {exc}") from exc
    return obj, header_version


def read_s2_generator(path: str | os.PathLike[str]) -> S2Checkpoint:
    """Load an exported s2 generator; CheckpointError if it is not a v2 one."""
    path = Path(path)
    obj, header_version = load_s2_file(path)
    if not (isinstance(obj, Mapping) and isinstance(obj.get("weight"), Mapping)):
        raise CheckpointError("foreign_checkpoint", f"{path}: no 'weight' state dict")
    weight = dict(obj["weight"])
    version = resolve_version(header_version, _version_from_weights(weight))
    if version != "v2":
        raise CheckpointError(
            "unsupported_version", f"{path}: {version} s2 checkpoints are not supported yet"
        )
    hps = obj.get("config")
    try:
        hparams = hps.to_dict() if isinstance(hps, HParams) else dict(hps or {})
        config = SoVITSConfig.from_hparams(hparams)
    except (TypeError, ValueError) as exc:
        raise CheckpointError("foreign_checkpoint", f"{path}: bad config: {exc}") from exc
    info = obj.get("info")
    return S2Checkpoint(weight, config, hparams, None if info is None else str(info))


def load_s2_generator(path: str | os.PathLike[str]) -> SynthesizerTrn:
    """An exported v2 generator ready for ``decode``: fp32, eval mode, weight norm folded.

    Only the posterior encoder (training-only, dropped by upstream exports) may be
    missing; any other missing, extra or mis-shaped tensor is a CheckpointError.
    """
    ckpt = read_s2_generator(path)
    model = SynthesizerTrn(ckpt.config)
    try:
        missing, unexpected = model.load_state_dict(ckpt.weight, strict=False)
    except RuntimeError as exc:  # shape mismatches
        raise CheckpointError("incompatible_weights", f"{path}: {exc}") from exc
    missing = [k for k in missing if not k.startswith("enc_q.")]
    if missing or unexpected:
        raise CheckpointError(
            "incompatible_weights",
            f"{path}: missing {missing[:5]} ({len(missing)}), "
            f"unexpected {unexpected[:5]} ({len(unexpected)})",
        )
    return model.prepare_for_inference()


def resolve_version(header_version: str | None, shape_version: str) -> str:
    """The version of an s2 file from its header tag and the one its weights' shapes give.

    Plain ``PK`` files and ``00``/``01`` tags go by the shapes (when they tell); the
    newer tags (``02`` to ``06``) by the header, as upstream's loaders do.
    """
    if header_version is None:
        return shape_version
    if header_version in SHAPE_DECIDED and not shape_version.startswith("unknown"):
        return shape_version
    return header_version


def _version_from_weights(weight: Mapping[str, torch.Tensor]) -> str:
    if any(k.startswith("cfm.") for k in weight):
        return "v3/v4"
    if "sv_emb.weight" in weight:
        conv_pre = weight.get("dec.conv_pre.weight")
        return "v2ProPlus" if conv_pre is not None and conv_pre.shape[0] == 768 else "v2Pro"
    embedding = weight.get("enc_p.text_embedding.weight")
    if embedding is None:
        return "unknown (no enc_p.text_embedding)"
    return "v1" if embedding.shape[0] == 322 else "v2"


class _UpstreamPickler(pickle._Pickler):
    """Pure-Python pickler that writes our :class:`HParams` as the global ``utils.HParams``."""

    def save_global(self, obj: Any, name: str | None = None) -> None:
        if obj is HParams:
            module, qualname = UPSTREAM_HPARAMS
            self.write(pickle.GLOBAL + f"{module}\n{qualname}\n".encode())
            self.memoize(obj)
            return
        super().save_global(obj, name)


# torch.save(pickle_module=...) only needs ``Pickler`` from the module it is given.
_upstream_pickle = types.ModuleType("voicemill_upstream_pickle")
_upstream_pickle.Pickler = _UpstreamPickler  # type: ignore[attr-defined]


def write_s2_generator(
    path: str | os.PathLike[str],
    state_dict: Mapping[str, torch.Tensor],
    config: SoVITSConfig,
    info: str,
) -> None:
    """Write an upstream-loadable export (fp16, enc_q dropped), atomically."""
    weight = {
        k: v.detach().to("cpu", torch.float16) for k, v in drop_enc_q(dict(state_dict)).items()
    }
    obj = {"weight": weight, "config": HParams(**config.to_hparams()), "info": info}
    atomic_save(obj, Path(path))


def atomic_save(obj: Any, path: Path) -> None:
    """``torch.save`` via a temp file, so ``path`` never holds a half-written checkpoint.

    Uses the upstream-naming pickler, so any :class:`HParams` inside loads in upstream.
    """
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(obj, f, pickle_module=_upstream_pickle, pickle_protocol=2)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_s2_discriminator(
    path: str | os.PathLike[str], state_dict: Mapping[str, torch.Tensor]
) -> None:
    """Write an ``s2D*.pth`` like the pretrained ones: ``{"weight": fp16 state dict}``.

    Upstream reads only ``["weight"]`` (fine-tuning starts from it), so nothing else is stored.
    """
    weight = {k: v.detach().to("cpu", torch.float16) for k, v in state_dict.items()}
    atomic_save({"weight": weight}, Path(path))


def read_s2_discriminator(path: str | os.PathLike[str]) -> dict[str, torch.Tensor]:
    """The discriminator's state dict as stored; CheckpointError if the file is not one."""
    obj, _ = load_s2_file(path)
    weight = obj.get("weight") if isinstance(obj, Mapping) else None
    ok = isinstance(weight, Mapping) and bool(weight)
    if not ok or not all(
        k.startswith("discriminators.") and torch.is_tensor(v) for k, v in weight.items()
    ):
        raise CheckpointError("foreign_checkpoint", f"{path}: no discriminator 'weight' dict")
    return dict(weight)
