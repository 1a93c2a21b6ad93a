"""bf16 / int8 inference against fp32 on tiny random models of both stages."""

from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F

from voicemill.model.gpt import GPTConfig, Text2SemanticModel, generate
from voicemill.model.precision import (
    Int8Weight,
    Precision,
    PrecisionError,
    apply_gpt_precision,
    apply_sovits_precision,
    cpu_supports_bf16,
    quantize_weights_int8,
    resolve_precision,
)
from voicemill.model.sovits import SoVITSConfig, SynthesizerTrn

needs_bf16 = pytest.mark.skipif(not cpu_supports_bf16(), reason="CPU has no bf16 arithmetic")


def _gpt_inputs(cfg: GPTConfig) -> tuple[torch.Tensor, ...]:
    g = torch.Generator().manual_seed(3)
    phones = torch.randint(1, cfg.phoneme_vocab_size, (2, 12), generator=g)
    phone_lens = torch.tensor([12, 9])
    bert = torch.randn(2, cfg.bert_dim, 12, generator=g)
    semantic = torch.randint(0, cfg.vocab_size - 1, (2, 20), generator=g)
    return phones, phone_lens, bert, semantic, torch.tensor([20, 14])


def test_int8_weight_linear_matches_the_float_linear() -> None:
    torch.manual_seed(0)
    layer = torch.nn.Linear(64, 48)
    x = torch.randn(5, 3, 64)
    expected = layer(x)
    weight = Int8Weight(layer.weight, torch.float32)
    assert weight.as_subclass(torch.Tensor).dtype == torch.int8
    # per-row scales: every weight is within half a quantization step of its original
    step = weight.scales[:, None]
    assert ((weight.dequantize() - layer.weight).abs() <= step / 2 + 1e-7).all()
    got = F.linear(x, weight, layer.bias)
    assert got.shape == expected.shape
    assert (got - expected).abs().max() < 0.02 * expected.abs().max()


def test_quantized_weights_leave_parameters_and_state_dict() -> None:
    model = Text2SemanticModel(GPTConfig.tiny()).eval()
    layers = model.config.n_layers
    swapped = quantize_weights_int8(model.h, torch.float32)
    assert swapped == 4 * layers  # in_proj, out_proj, linear1, linear2 per layer
    names = set(model.state_dict())
    assert "h.layers.0.self_attn.in_proj_weight" not in names
    assert "h.layers.0.norm1.weight" in names  # 1-D weights stay parameters


@needs_bf16
@pytest.mark.parametrize("precision", [Precision.BF16, Precision.INT8])
def test_reduced_precision_gpt_logits_track_fp32(precision: Precision) -> None:
    torch.manual_seed(0)
    reference = Text2SemanticModel(GPTConfig.tiny()).eval()
    fast = apply_gpt_precision(copy.deepcopy(reference), precision)
    inputs = _gpt_inputs(reference.config)
    with torch.inference_mode():
        expected = reference.predict(*inputs)
        got = fast.predict(*inputs).float()
    assert (got - expected).abs().max() < 0.05 * expected.abs().max()
    agree = (got.argmax(-1) == expected.argmax(-1)).float().mean()
    assert agree > 0.9


@needs_bf16
def test_int8_generation_is_seeded_and_keeps_its_length() -> None:
    torch.manual_seed(0)
    cfg = GPTConfig.tiny()
    model = apply_gpt_precision(Text2SemanticModel(cfg).eval(), Precision.INT8)
    phones, phone_lens, bert, semantic, _ = _gpt_inputs(cfg)
    runs = [
        generate(model, phones, phone_lens, bert, semantic, max_new_tokens=15, min_new_tokens=15)
        for _ in range(2)
    ]
    for first, second in zip(*runs, strict=True):
        assert first.numel() == 15
        assert torch.equal(first, second)


@needs_bf16
def test_bf16_decoder_is_close_to_fp32() -> None:
    torch.manual_seed(0)
    cfg = SoVITSConfig.tiny()
    reference = SynthesizerTrn(cfg).prepare_for_inference()
    fast = apply_sovits_precision(copy.deepcopy(reference), Precision.BF16)
    assert fast.dec.conv_pre.weight.dtype == torch.bfloat16
    assert fast.enc_p.ssl_proj.weight.dtype == torch.float32  # only the decoder is cast
    g = torch.Generator().manual_seed(1)
    codes = torch.randint(0, cfg.codebook_size, (1, 1, 40), generator=g)
    text = torch.randint(1, 300, (1, 15), generator=g)
    spec = torch.rand(1, cfg.spec_channels, 60, generator=g)
    with torch.inference_mode():
        expected = reference.decode(codes, text, spec, generator=torch.Generator().manual_seed(0))
        got = fast.decode(codes, text, spec, generator=torch.Generator().manual_seed(0))
    assert got.dtype == torch.float32 and got.shape == expected.shape
    snr = 10 * torch.log10(expected.pow(2).mean() / (got - expected).pow(2).mean())
    assert snr > 30.0


def test_auto_picks_by_hardware_and_impossible_choices_are_refused(monkeypatch) -> None:
    monkeypatch.setattr("voicemill.model.precision.cpu_supports_bf16", lambda: True)
    assert resolve_precision("auto") is Precision.INT8
    assert resolve_precision("auto", "cuda") is Precision.BF16
    with pytest.raises(PrecisionError) as excinfo:
        resolve_precision("int8", "cuda")
    assert excinfo.value.reason == "int8_needs_cpu"

    monkeypatch.setattr("voicemill.model.precision.cpu_supports_bf16", lambda: False)
    assert resolve_precision("auto") is Precision.FP32
    with pytest.raises(PrecisionError) as excinfo:
        resolve_precision("bf16")
    assert excinfo.value.reason == "no_bf16_on_this_cpu"
    with pytest.raises(ValueError, match="fp16"):
        resolve_precision("fp16")
