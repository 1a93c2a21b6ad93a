"""Upstream's neural letter-to-sound model for English words no dictionary knows.

Upstream GPT-SoVITS reads out-of-dictionary words with the ``g2p_en`` package's
model: a one-layer GRU encoder over the letters and a GRU decoder that emits ARPAbet
phones greedily until its end symbol (at most 20). The voices learned those phones,
so we run the same weights (``checkpoint20.npz``, shipped in the ``g2p_en`` wheel) with
the same float32 numpy arithmetic, which reproduces its predictions exactly.

The ``g2p_en`` module itself is never imported: its ``__init__`` downloads NLTK data.
Its package folder is only located to read the weight file.
"""

from __future__ import annotations

import importlib.util
from functools import cache
from pathlib import Path

import numpy as np

MAX_PHONES = 20
_GRAPHEMES = ("<pad>", "<unk>", "</s>", *"abcdefghijklmnopqrstuvwxyz")
_PHONEMES = (
    "<pad>", "<unk>", "<s>", "</s>",
    "AA0", "AA1", "AA2", "AE0", "AE1", "AE2", "AH0", "AH1", "AH2", "AO0", "AO1", "AO2",
    "AW0", "AW1", "AW2", "AY0", "AY1", "AY2", "B", "CH", "D", "DH", "EH0", "EH1", "EH2",
    "ER0", "ER1", "ER2", "EY0", "EY1", "EY2", "F", "G", "HH", "IH0", "IH1", "IH2", "IY0",
    "IY1", "IY2", "JH", "K", "L", "M", "N", "NG", "OW0", "OW1", "OW2", "OY0", "OY1", "OY2",
    "P", "R", "S", "SH", "T", "TH", "UH0", "UH1", "UH2", "UW", "UW0", "UW1", "UW2", "V",
    "W", "Y", "Z", "ZH",
)  # fmt: skip
_LETTER_IDS = {letter: i for i, letter in enumerate(_GRAPHEMES)}
_UNKNOWN_LETTER = _LETTER_IDS["<unk>"]
_END_OF_WORD = _LETTER_IDS["</s>"]
_START = _PHONEMES.index("<s>")
_STOP = _PHONEMES.index("</s>")


def g2p_en_data_dir() -> Path:
    """The installed ``g2p_en`` package folder, found without importing the package."""
    spec = importlib.util.find_spec("g2p_en")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the g2p_en package (model weights, homograph table) is missing")
    return Path(spec.submodule_search_locations[0])


@cache
def _weights() -> dict[str, np.ndarray]:
    with np.load(g2p_en_data_dir() / "checkpoint20.npz") as archive:
        return {name: archive[name] for name in archive.files}


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1 / (1 + np.exp(-x))


def _gru_step(x: np.ndarray, h: np.ndarray, layer: str) -> np.ndarray:
    """One GRU step (PyTorch gate layout: reset, update, new) on a batch of one."""
    w = _weights()
    from_input = np.matmul(x, w[f"{layer}_w_ih"].T) + w[f"{layer}_b_ih"]
    from_hidden = np.matmul(h, w[f"{layer}_w_hh"].T) + w[f"{layer}_b_hh"]
    size = h.shape[-1]
    reset = _sigmoid(from_input[:, :size] + from_hidden[:, :size])
    update = _sigmoid(from_input[:, size : 2 * size] + from_hidden[:, size : 2 * size])
    candidate = np.tanh(from_input[:, 2 * size :] + reset * from_hidden[:, 2 * size :])
    return (1 - update) * candidate + update * h


def predict_phones(word: str) -> list[str]:
    """The model's phones for a lower-case word, as it emits them.

    The output may hold ``UW`` (no stress digit, outside the v2 symbol set) and
    ``<unk>``/``<pad>``; :func:`voicemill.text.g2p_en.english_g2p` filters them the
    way upstream does. Letters outside a-z (an apostrophe) are the model's unknown.
    """
    w = _weights()
    letters = [_LETTER_IDS.get(ch, _UNKNOWN_LETTER) for ch in word] + [_END_OF_WORD]
    embedded = np.take(w["enc_emb"], np.expand_dims(letters, 0), axis=0)
    h = np.zeros((1, w["enc_w_hh"].shape[-1]), np.float32)
    for t in range(len(letters)):
        h = _gru_step(embedded[:, t, :], h, "enc")
    previous = np.take(w["dec_emb"], [_START], axis=0)
    phones: list[str] = []
    for _ in range(MAX_PHONES):
        h = _gru_step(previous, h, "dec")
        best = int((np.matmul(h, w["fc_w"].T) + w["fc_b"]).argmax())
        if best == _STOP:
            break
        phones.append(_PHONEMES[best])
        previous = np.take(w["dec_emb"], [best], axis=0)
    return phones
