"""The s2 generator against upstream's ``SynthesizerTrn`` on the same random v2 weights (fp32).

Upstream's model is built from our config the way TTS.py builds it (``to_hparams()``,
``n_speakers`` included) and loads our full state dict with no missing or unexpected key.
Both sides fold the decoder's weight norm for inference (TTS.py removes it from ``dec``;
ours from every module). The codebook is filled (a fresh one is all zeros).

Upstream's ``decode`` takes one reference spectrogram of batch 1 (or a list of them) and
broadcasts its style over the batch; ours takes one per row, so we pass it expanded.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
from parity_io import Exchange, Peer, max_abs_diff

from voicemill.model.sovits import SoVITSConfig, SynthesizerTrn

WAV_ATOL = 1e-6  # decoded samples; the waveform's peak here is about 0.08
B, T50, N_PHONES = 2, 24, 15


@pytest.fixture(autouse=True)
def _one_thread(one_torch_thread: None) -> None:
    """Our side on one torch thread too (the peer's functions run on one)."""


@pytest.fixture(scope="module")
def io(tmp_path_factory: pytest.TempPathFactory) -> Exchange:
    return Exchange(tmp_path_factory.mktemp("sovits_parity"))


@pytest.fixture(scope="module")
def sovits(peer: Peer, io: Exchange) -> Iterator[tuple[SynthesizerTrn, dict]]:
    torch.manual_seed(12)
    config = SoVITSConfig.v2()
    model = SynthesizerTrn(config)
    codebook = model.quantizer.vq.layers[0]._codebook
    codebook.embed.normal_()
    codebook.inited.fill_(1.0)  # as in trained files; upstream k-means-inits an uninited one
    state = io.put_state("sovits", model.state_dict())
    report = peer.call("model.sovits_build", key="sovits", state=state, hps=config.to_hparams())
    Path(state).unlink()
    yield model.prepare_for_inference(), report
    peer.call("model.release", prefix="sovits")


@pytest.fixture(scope="module")
def inputs(sovits: tuple[SynthesizerTrn, dict], io: Exchange) -> dict:
    g = torch.Generator().manual_seed(2)
    ssl = torch.randn(B, 768, T50, generator=g)
    refs = [torch.rand(1, 1025, n, generator=g) for n in (40, 33)]
    phones = torch.randint(0, 732, (B, N_PHONES), generator=g)
    codes = sovits[0].extract_latent(ssl)  # [1, B, T25]
    return {
        "ssl": ssl,
        "codes": codes,
        "phones": phones,
        "refs": refs,
        "peer": {
            "codes": io.put("codes", codes),
            "phones": io.put("phones", phones),
            "refs": [io.put("refer", r) for r in refs],
        },
    }


def test_state_dicts_match_name_for_name(sovits: tuple[SynthesizerTrn, dict]) -> None:
    assert sovits[1] == {"missing": [], "unexpected": []}


def test_extract_latent_codes_are_identical(
    peer: Peer,
    sovits: tuple[SynthesizerTrn, dict],
    inputs: dict,
    io: Exchange,
) -> None:
    out = io.path("codes")
    peer.call(
        "model.sovits_extract_latent", key="sovits", ssl=io.put("ssl", inputs["ssl"]), out=out
    )
    theirs = Exchange.get(out)  # upstream returns [B, n_q, T25]
    assert theirs.transpose(0, 1).shape == inputs["codes"].shape == (1, B, T50 // 2)
    assert torch.equal(theirs.transpose(0, 1), inputs["codes"])
    assert len(inputs["codes"].unique()) > 5  # a codebook that discriminates


CASES = {
    "no noise": ({"noise_scale": 0.0}, 1),
    "seeded noise": ({"noise_scale": 0.5, "seed": 3}, 1),
    "two references": ({"noise_scale": 0.0}, 2),
    "speed 1.25": ({"noise_scale": 0.5, "seed": 4, "speed": 1.25}, 1),
}


def _ours(model: SynthesizerTrn, inputs: dict, refs: int, **kwargs: float) -> torch.Tensor:
    seed = int(kwargs.pop("seed", 0))
    spec = [r.expand(B, -1, -1) for r in inputs["refs"][:refs]]
    return model.decode(
        inputs["codes"],
        inputs["phones"],
        spec[0] if refs == 1 else spec,
        generator=torch.Generator().manual_seed(seed),
        **kwargs,
    )


@pytest.mark.parametrize("case", list(CASES))
def test_decode_waveforms_match(
    peer: Peer,
    sovits: tuple[SynthesizerTrn, dict],
    inputs: dict,
    io: Exchange,
    case: str,
) -> None:
    kwargs, refs = CASES[case]
    out = io.path("wav")
    peer.call(
        "model.sovits_decode",
        key="sovits",
        codes=inputs["peer"]["codes"],
        phones=inputs["peer"]["phones"],
        refer=inputs["peer"]["refs"][:refs],
        out=out,
        **kwargs,
    )
    theirs = Exchange.get(out)
    ours = _ours(sovits[0], inputs, refs, **kwargs)
    diff = max_abs_diff(ours, theirs)
    print(f"decode ({case}): max abs diff {diff:.3g}, peak {float(ours.abs().max()):.3g}")
    assert diff <= WAV_ATOL
    if "seed" in kwargs:  # the seeded prior noise matters far beyond the tolerance
        other = _ours(sovits[0], inputs, refs, **dict(kwargs, seed=kwargs["seed"] + 1))
        assert max_abs_diff(ours, other) > 100 * WAV_ATOL
