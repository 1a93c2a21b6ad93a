"""Inference precision for the two stages: fp32, bf16 or int8 GPT weights.

On CPU the s1 GPT decodes one token per step through ~75M weights, so it is bound by
memory bandwidth: bf16 weights halve the bytes read per token and int8 weights quarter
them. The SoVITS HiFi-GAN decoder is bound by convolution arithmetic, which oneDNN runs
about twice as fast in bf16 on CPUs with AVX512-BF16/AMX. Everything else stays fp32:

- the GPT's attention over its KV cache (fp32 cache; small bf16 batched matmuls are
  slow on CPU, and it keeps softmax accurate), its logits and sampling;
- SoVITS's quantizer, text encoder and flow (cheap at 50 Hz, and the flow's inverse
  is the numerically delicate part).

``int8`` is weight-only per-output-channel symmetric quantization of the GPT's
transformer and output projections, computed by ``aten._weight_int8pack_mm`` with bf16
activations (the kernel torchao's int8 weight-only mode uses on CPU); embeddings and
the once-per-request BERT projection stay bf16. ``bench/synthesis`` prints the accuracy
of each mode against fp32 next to its speed.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from voicemill.errors import RejectedInput


class Precision(StrEnum):
    FP32 = "fp32"  # reference numerics; the same audio on every machine for a seed
    BF16 = "bf16"  # bf16 GPT and HiFi-GAN decoder
    INT8 = "int8"  # int8 GPT projections (bf16 activations), bf16 HiFi-GAN decoder
    AUTO = "auto"  # int8 where the CPU has bf16 arithmetic, else fp32


class PrecisionError(RejectedInput):
    """A precision this device cannot run."""


def cpu_supports_bf16() -> bool:
    """True when oneDNN has native bf16 kernels here (AVX512-BF16 or AMX)."""
    return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())


def resolve_precision(precision: Precision | str, device: torch.device | str = "cpu") -> Precision:
    """The concrete precision to run: ``auto`` picks, and impossible choices are refused."""
    precision = Precision(precision)
    device = torch.device(device)
    if precision is Precision.AUTO:
        if device.type == "cpu":
            return Precision.INT8 if cpu_supports_bf16() else Precision.FP32
        return Precision.BF16
    if precision is Precision.INT8 and device.type != "cpu":
        raise PrecisionError(
            "int8_needs_cpu", f"int8 GPT weights run on CPU only; on {device.type} use bf16"
        )
    if precision is not Precision.FP32 and device.type == "cpu" and not cpu_supports_bf16():
        raise PrecisionError(
            "no_bf16_on_this_cpu",
            f"{precision} needs a CPU with AVX512-BF16 or AMX (emulated bf16 is slower than "
            "fp32 here): use fp32",
        )
    return precision


class Int8Weight(torch.Tensor):
    """An int8 [out, in] weight with per-row scales that ``F.linear`` runs on the int8 kernel.

    A tensor subclass rather than a replacement module, so the GPT's own forward code
    (``nn.Linear`` layers and the fused ``in_proj_weight``) runs unchanged.
    """

    int8: torch.Tensor  # [out, in] the same values as a plain tensor (no dispatch per use)
    scales: torch.Tensor  # [out] in the activation dtype

    @staticmethod
    def __new__(cls, weight: torch.Tensor, activation_dtype: torch.dtype) -> Int8Weight:
        w = weight.detach().float()
        scales = w.abs().amax(dim=1).clamp_min(1e-12) / 127.0  # [out]
        quantized = (w / scales[:, None]).round().clamp(-127, 127).to(torch.int8).contiguous()
        tensor = torch.Tensor._make_subclass(cls, quantized)
        tensor.int8 = quantized
        tensor.scales = scales.to(activation_dtype)
        return tensor

    def dequantize(self) -> torch.Tensor:
        """The float weight these int8 values stand for: [out, in] fp32."""
        return self.int8.float() * self.scales.float()[:, None]

    @classmethod
    def __torch_function__(
        cls, func: Any, types: Any, args: tuple = (), kwargs: dict | None = None
    ) -> Any:
        if func is F.linear:  # the hot path: one call per projection per decoded token
            x, weight = args[0], args[1]
            bias = args[2] if len(args) > 2 else (kwargs or {}).get("bias")
            rows = x.reshape(-1, x.shape[-1])  # [N, in]
            if rows.dtype != weight.scales.dtype:
                rows = rows.to(weight.scales.dtype)
            if not rows.is_contiguous():
                rows = rows.contiguous()
            y = torch.ops.aten._weight_int8pack_mm(rows, weight.int8, weight.scales)  # [N, out]
            if bias is not None:
                y.add_(bias)
            return y.view(*x.shape[:-1], y.shape[-1])
        with torch._C.DisableTorchFunctionSubclass():
            return func(*args, **(kwargs or {}))


def quantize_weights_int8(modules: nn.Module, activation_dtype: torch.dtype) -> int:
    """Swap every 2-D ``weight``/``in_proj_weight`` under ``modules`` for an Int8Weight.

    Inference only: the swapped weights are plain attributes, so they leave
    ``parameters()`` and ``state_dict()``. Returns how many were swapped.
    """
    swapped = 0
    for module in modules.modules():
        for name in ("weight", "in_proj_weight"):
            weight = module._parameters.get(name)
            if weight is None or weight.dim() != 2:
                continue
            del module._parameters[name]
            setattr(module, name, Int8Weight(weight, activation_dtype))
            swapped += 1
    return swapped


def apply_gpt_precision(gpt: nn.Module, precision: Precision) -> nn.Module:
    """Cast an eval-mode s1 GPT in place for ``precision`` (already resolved)."""
    if precision is Precision.FP32:
        return gpt
    gpt.to(torch.bfloat16)
    if precision is Precision.INT8:
        quantize_weights_int8(gpt.h, torch.bfloat16)  # the per-token transformer stack
        quantize_weights_int8(gpt.ar_predict_layer, torch.bfloat16)
    return gpt


def apply_sovits_precision(sovits: nn.Module, precision: Precision) -> nn.Module:
    """Cast the HiFi-GAN decoder ``dec`` of an inference-ready s2 model to bf16 if asked."""
    if precision is not Precision.FP32:
        sovits.dec.to(torch.bfloat16)
    return sovits
