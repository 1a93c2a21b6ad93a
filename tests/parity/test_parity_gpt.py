"""The s1 GPT against upstream's ``Text2SemanticDecoder`` on the same random v2 weights (fp32).

Our model's state dict is loaded into the peer's ``Text2SemanticLightningModule`` (no
missing or unexpected key). Compared: teacher-forced logits through upstream's training
path (``make_input_data`` + its ``h`` transformer) and through its inference transformer
(the prompt pass of ``infer_panel_batch_infer``), and greedy (top_k=1) tokens from both
of TTS.py's decoding loops, at a fixed length and stopping at EOS.

Padding: we right-pad the text; upstream's inference left-pads it (per-item positions),
its training path also treats text as left-padded but adds positions after padding, so
the training-path comparison uses equal phone lengths (semantic lengths vary).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path

import pytest
import torch
from parity_io import Exchange, Peer, max_abs_diff, ragged_batch

from voicemill.model.gpt import GPTConfig, Text2SemanticModel, generate
from voicemill.model.gpt.checkpoint import config_to_dict

ATOL = 1e-5  # logits, fp32
SEED = 11
PHONE_LENS = [9, 14, 11]  # a ragged batch
PROMPT_LEN = 6


@pytest.fixture(autouse=True)
def _one_thread(one_torch_thread: None) -> None:
    """Our side on one torch thread too (the peer's functions run on one)."""


@pytest.fixture(scope="module")
def io(tmp_path_factory: pytest.TempPathFactory) -> Exchange:
    return Exchange(tmp_path_factory.mktemp("gpt_parity"))


@pytest.fixture(scope="module")
def gpt(peer: Peer, io: Exchange) -> Iterator[tuple[Text2SemanticModel, dict]]:
    torch.manual_seed(SEED)
    model = Text2SemanticModel(GPTConfig.v2()).eval()
    state = io.put_state("gpt", {f"model.{k}": v for k, v in model.state_dict().items()})
    report = peer.call(
        "model.gpt_build", key="gpt", state=state, config=config_to_dict(model.config)
    )
    Path(state).unlink()
    yield model, report
    peer.call("model.release", prefix="gpt")


@pytest.fixture(scope="module")
def ragged(io: Exchange) -> dict:
    """Phones, BERT features and prompt tokens for three rows of different text lengths."""
    return ragged_batch(io, PHONE_LENS, PROMPT_LEN, seed=1)


@contextmanager
def eos_like(model: Text2SemanticModel, token: int, scale: float) -> Iterator[None]:
    """EOS's output row as ``scale`` times ``token``'s (what ``gpt_greedy``'s eos_from does)."""
    weight = model.ar_predict_layer.weight
    saved = weight.data[model.config.eos].clone()
    weight.data[model.config.eos] = scale * weight.data[token]
    try:
        yield
    finally:
        weight.data[model.config.eos] = saved


def test_state_dicts_match_name_for_name(gpt: tuple[Text2SemanticModel, dict]) -> None:
    assert gpt[1] == {"missing": [], "unexpected": []}


def test_teacher_forced_logits_match_upstream_training_path(
    peer: Peer,
    gpt: tuple[Text2SemanticModel, dict],
    io: Exchange,
) -> None:
    model = gpt[0]
    g = torch.Generator().manual_seed(2)
    b, tx, ty = 3, 12, 10
    phones = torch.randint(0, 732, (b, tx), generator=g)
    bert = torch.randn(b, 1024, tx, generator=g) * 0.1
    semantic = torch.randint(0, 1024, (b, ty), generator=g)
    phone_lens, semantic_lens = torch.full((b,), tx), torch.tensor([10, 7, 4])
    out = io.path("logits")
    peer.call(
        "model.gpt_teacher_forced",
        key="gpt",
        phones=io.put("phones", phones),
        phone_lens=io.put("phone_lens", phone_lens),
        bert=io.put("bert", bert),
        semantic=io.put("semantic", semantic),
        semantic_lens=io.put("semantic_lens", semantic_lens),
        out=out,
    )
    theirs = Exchange.get(out)
    with torch.no_grad():
        ours = model.predict(phones, phone_lens, bert, semantic, semantic_lens)
    assert ours.shape == theirs.shape == (b, ty + 1, 1025)
    # Row j < length predicts semantic token j, row == length predicts EOS; later rows are padding.
    diffs = [max_abs_diff(ours[i, : n + 1], theirs[i, : n + 1]) for i, n in enumerate([10, 7, 4])]
    print(f"teacher-forced logits (training path): max abs diff {max(diffs):.3g}")
    assert max(diffs) <= ATOL


def test_teacher_forced_logits_match_upstream_inference_transformer(
    peer: Peer,
    gpt: tuple[Text2SemanticModel, dict],
    ragged: dict,
    io: Exchange,
) -> None:
    out = io.path("logits")
    text_len = peer.call("model.gpt_prompt_logits", key="gpt", out=out, **ragged["peer"])
    theirs = Exchange.get(out)  # [B, text_len + Tp, V], text left-padded
    with torch.no_grad():
        ours = gpt[0].predict(
            ragged["phones"],
            ragged["phone_lens"],
            ragged["bert"],
            ragged["prompts"],
            torch.full((len(PHONE_LENS),), PROMPT_LEN),
        )
    # Ours: row 0 at the last text position, then one row per prompt token.
    expected = theirs[:, text_len - 1 : text_len + PROMPT_LEN]
    diff = max_abs_diff(ours, expected)
    print(f"teacher-forced logits (inference transformer, ragged text): max abs diff {diff:.3g}")
    assert diff <= ATOL


_ours: dict[tuple, list[list[int]]] = {}  # our tokens, shared by the batch/naive cases


def _greedy(
    model: Text2SemanticModel, ragged: dict, prompts: bool, n: int, eos_from: tuple = ()
) -> list[list[int]]:
    key = (id(model), prompts, n, eos_from)
    if key not in _ours:
        with eos_like(model, *eos_from) if eos_from else nullcontext():
            _ours[key] = _generate(model, ragged, prompts, n)
    return _ours[key]


def _generate(model: Text2SemanticModel, ragged: dict, prompts: bool, n: int) -> list[list[int]]:
    rows = generate(
        model,
        ragged["phones"],
        ragged["phone_lens"],
        ragged["bert"],
        ragged["prompts"] if prompts else None,
        top_k=1,
        max_new_tokens=n,
    )
    return [r.tolist() for r in rows]


# Upstream's loops count their budget differently: the batch loop drops the token of the
# step that hits ``early_stop_num``, the naive loop keeps it. Both then give N tokens.
STOP = {"batch": lambda n: n, "naive": lambda n: n - 1}


@pytest.mark.parametrize("mode", ["batch", "naive"])
def test_greedy_tokens_at_a_fixed_length(
    peer: Peer,
    gpt: tuple[Text2SemanticModel, dict],
    ragged: dict,
    mode: str,
) -> None:
    n = 25
    ours = _greedy(gpt[0], ragged, True, n)
    theirs = peer.call(
        "model.gpt_greedy", key="gpt", mode=mode, early_stop_num=STOP[mode](n), **ragged["peer"]
    )
    assert [len(r) for r in ours] == [n] * len(PHONE_LENS)  # no EOS on these weights
    assert ours == theirs


def test_greedy_tokens_without_a_prompt(
    peer: Peer,
    gpt: tuple[Text2SemanticModel, dict],
    ragged: dict,
) -> None:
    """Reference-free decoding (upstream: ``infer_panel_naive_batched``, prompts None)."""
    n = 15
    ours = _greedy(gpt[0], ragged, False, n)
    args = dict(ragged["peer"], prompts=None)
    theirs = peer.call("model.gpt_greedy", key="gpt", mode="naive", early_stop_num=n - 1, **args)
    assert ours == theirs


@pytest.mark.parametrize("mode", ["batch", "naive"])
def test_greedy_tokens_stop_at_eos_like_upstream(
    peer: Peer,
    gpt: tuple[Text2SemanticModel, dict],
    ragged: dict,
    mode: str,
) -> None:
    """EOS made competitive (its row 1.01 x a frequent token's), so rows end at different steps."""
    n, eos_from = 40, (709, 1.01)
    ours = _greedy(gpt[0], ragged, True, n, eos_from)
    lengths = [len(r) for r in ours]
    print(f"greedy with EOS ({mode}): lengths {lengths} of at most {n}")
    assert min(lengths) < n and len(set(lengths)) == len(lengths), lengths  # EOS, unevenly
    assert min(lengths) >= 11  # neither side may stop in the first 11 steps
    theirs = peer.call(
        "model.gpt_greedy",
        key="gpt",
        mode=mode,
        early_stop_num=STOP[mode](n),
        eos_from=list(eos_from),
        **ragged["peer"],
    )
    assert ours == theirs
