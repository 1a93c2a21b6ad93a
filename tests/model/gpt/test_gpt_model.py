"""The s1 GPT module: official state-dict layout, masking and training loss."""

from __future__ import annotations

from pathlib import Path

import torch

from voicemill.model.gpt.config import GPTConfig
from voicemill.model.gpt.model import IGNORE, Text2SemanticModel

TABLE = Path(__file__).parents[2] / "data" / "gpt_sovits" / "s1_v2_state_dict.tsv"


def official_shapes() -> dict[str, list[int]]:
    rows = (line.split("\t") for line in TABLE.read_text().splitlines() if line.strip())
    return {
        name: [int(d) for d in shape.strip("[]").split(",") if d.strip()] for name, shape in rows
    }


CODES = GPTConfig.tiny().eos  # the tiny preset's semantic codes: 0 .. 63, then EOS


def batch(lens_x: list[int], lens_y: list[int], seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    b, tx, ty = len(lens_x), max(lens_x), max(lens_y)
    return (
        torch.randint(0, 732, (b, tx), generator=g),
        torch.tensor(lens_x),
        torch.randn(b, 1024, tx, generator=g),
        torch.randint(0, CODES, (b, ty), generator=g),
        torch.tensor(lens_y),
    )


def tiny(dtype: torch.dtype = torch.float32) -> Text2SemanticModel:
    torch.manual_seed(0)
    return Text2SemanticModel(GPTConfig.tiny()).to(dtype).eval()


def test_v2_state_dict_equals_official_table():
    with torch.device("meta"):
        model = Text2SemanticModel(GPTConfig.v2())
    ours = {f"model.{k}": list(v.shape) for k, v in model.state_dict().items()}
    assert ours == official_shapes()
    assert list(ours) == list(official_shapes())  # same order as the official file
    assert sum(p.numel() for p in model.parameters()) == 77_606_402  # "77.6M"


def test_targets_are_semantic_then_eos():
    model = tiny()
    out = model(*batch([4, 2], [3, 1]))
    sem = batch([4, 2], [3, 1])[3]
    assert out.logits.shape == (2, 4, CODES + 1)
    assert out.targets[0].tolist() == [*sem[0, :3].tolist(), CODES]  # EOS is the last id
    assert out.targets[1].tolist() == [sem[1, 0].item(), CODES, IGNORE, IGNORE]


def test_padding_invariance_right_padded_batch():
    model = tiny(torch.float64)
    phones, _, bert, sem, _ = batch([9, 5], [12, 6], seed=1)
    # Garbage in the padding must not matter either.
    phones[1, 5:] = 7
    sem[1, 6:] = 3
    together = model(phones, torch.tensor([9, 5]), bert.double(), sem, torch.tensor([12, 6]))
    alone = model(
        phones[1:, :5], torch.tensor([5]), bert[1:, :, :5].double(), sem[1:, :6], torch.tensor([6])
    )
    per_row = torch.nn.functional.cross_entropy(
        together.logits[1], together.targets[1], ignore_index=IGNORE, reduction="sum"
    )
    assert abs(per_row.item() - alone.loss.item()) < 1e-5
    torch.testing.assert_close(together.logits[1, :7], alone.logits[0], atol=1e-9, rtol=0)


def test_text_does_not_see_audio_and_audio_is_causal():
    model = tiny(torch.float64)
    phones, pl, bert, sem, sl = batch([6], [10], seed=2)
    bert = bert.double()
    base = model(phones, pl, bert, sem, sl).logits
    changed = sem.clone()
    changed[0, 4] = (changed[0, 4] + 1) % CODES
    other = model(phones, pl, bert, changed, sl).logits
    # Row j sees semantic[:j]; rows 0..4 do not see position 4, row 5 on do.
    torch.testing.assert_close(base[:, :5], other[:, :5], atol=0, rtol=0)
    assert not torch.allclose(base[:, 5:], other[:, 5:])


def test_tiny_preset_overfits_one_batch():
    torch.manual_seed(0)
    model = Text2SemanticModel(GPTConfig.tiny())
    data = batch([8, 6], [12, 9], seed=3)
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    losses = []
    for _ in range(40):
        loss = model(*data).loss
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.3 * losses[0]
