"""Upstream's model code and model-file loaders, run on the tests' weights and inputs.

Every function here calls the peer's own classes and functions; nothing of upstream's
is reimplemented. Models stay in this process between calls under a test-chosen key
(``release(prefix)`` drops them). Tensors come and go as ``.npy`` files; state dicts
(too many tensors for .npy) as ``torch.save`` files in the tests' folders.

Running upstream's loaders without their applications:

* ``TTS_infer_pack.TTS``: its constructor also loads BERT and HuBERT (downloads), so
  ``tts_load`` makes the object without ``__init__`` and calls its real
  ``init_t2s_weights`` / ``init_vits_weights``, which read only the given files.
* ``inference_webui.py`` builds its whole UI and loads BERT/HuBERT at import, so
  ``webui_load`` takes its ``change_sovits_weights`` / ``change_gpt_weights`` (and the
  ``DictToAttrRecursive`` class they use) out of the file with ``ast`` and runs them, as
  written, with the module globals they read.
* Upstream's loaders only print what ``load_state_dict`` reports; a subclass of the
  model class they instantiate records it, so the tests can check missing/unexpected keys.

The fork ships no trainers (``s1_train.py`` is gone); ``save_peer_files`` writes the s1
trainer's file layout (``{"weight": half Lightning state dict, "config", "info"}``) with
``process_ckpt.my_save``, and the s2 generator with ``process_ckpt.savee`` itself.
"""

from __future__ import annotations

import ast
import contextlib
import functools
import gc
import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

_models: dict[str, Any] = {}


# -- plumbing ----------------------------------------------------------------------------


def _load(path: str) -> Any:
    import torch

    return torch.from_numpy(np.load(path))


def _save(tensor: Any, path: str) -> None:
    np.save(path, tensor.detach().cpu().numpy())


@contextlib.contextmanager
def _cwd(folder: str) -> Iterator[None]:
    """Upstream writes temp files and weight.json in the working directory: use the test's."""
    saved = os.getcwd()
    os.chdir(folder)
    try:
        yield
    finally:
        os.chdir(saved)


@contextlib.contextmanager
def _without_accuracy_metric() -> Iterator[None]:
    """Build ``Text2SemanticDecoder`` without its training-time accuracy metric.

    The metric (torchmetrics, about 6 s to import) computes nothing the tests compare and
    adds no state-dict entries; everything else is built as upstream builds it.
    """
    import AR.models.t2s_model as t2s_model

    saved = t2s_model._build_multiclass_accuracy_for_training
    t2s_model._build_multiclass_accuracy_for_training = lambda *args, **kwargs: None
    try:
        yield
    finally:
        t2s_model._build_multiclass_accuracy_for_training = saved


def _one_thread(function: Callable[..., Any]) -> Callable[..., Any]:
    """Run on one torch thread: on a shared 2-core box two threads are several times slower."""

    @functools.wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        import torch

        saved = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            return function(*args, **kwargs)
        finally:
            torch.set_num_threads(saved)

    return wrapper


def _key_report(result: Any) -> dict[str, list[str]]:
    return {"missing": list(result.missing_keys), "unexpected": list(result.unexpected_keys)}


def _recording(cls: type, method: str, log: list[Any]) -> type:
    """A subclass of ``cls`` whose ``method`` appends its return value to ``log``."""

    def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
        result = getattr(cls, method)(self, *args, **kwargs)
        log.append(result)
        return result

    return type(cls.__name__, (cls,), {method: wrapper})


def release(prefix: str) -> None:
    for key in [k for k in _models if k.startswith(prefix)]:
        del _models[key]
    gc.collect()


# -- s1 GPT ------------------------------------------------------------------------------


@_one_thread
def gpt_build(key: str, state: str, config: dict[str, Any]) -> dict[str, list[str]]:
    """``Text2SemanticLightningModule`` (with its training-time ``h`` stack) from a state dict."""
    import torch
    from AR.models.t2s_lightning_module import Text2SemanticLightningModule

    with _without_accuracy_metric():
        module = Text2SemanticLightningModule(config, "****", is_train=False)
    result = module.load_state_dict(torch.load(state, map_location="cpu"), strict=False)
    _models[key] = module.eval()
    return _key_report(result)


def _decoder(key: str) -> Any:
    return _models[key].model


@_one_thread
def gpt_teacher_forced(
    key: str, phones: str, phone_lens: str, bert: str, semantic: str, semantic_lens: str, out: str
) -> None:
    """Training-path logits [B, Ty+1, V]: ``make_input_data`` → ``h`` → ``ar_predict_layer``.

    Row 0 is read at the last text position (the fork's ``forward`` slices from
    ``x_len - 1``), so row j predicts semantic token j, then EOS.
    """
    import torch

    decoder = _decoder(key)
    x, x_lens = _load(phones), _load(phone_lens)
    with torch.no_grad():
        xy_pos, xy_attn_mask, _ = decoder.make_input_data(
            x, x_lens, _load(semantic), _load(semantic_lens), _load(bert)
        )
        xy_dec, _ = decoder.h((xy_pos, None), mask=xy_attn_mask)
        logits = decoder.ar_predict_layer(xy_dec[:, int(x_lens.max()) - 1 :])
    _save(logits, out)


class _PromptRecorder:
    """Stands in for ``t2s_transformer`` and keeps the prompt pass's hidden states."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.prompt_states: Any = None

    def process_prompt(self, *args: Any) -> Any:
        result = self.inner.process_prompt(*args)
        self.prompt_states = result[0]
        return result

    def decode_next_token(self, *args: Any) -> Any:
        return self.inner.decode_next_token(*args)


def _text_lists(phones: list[str], bert: list[str]) -> tuple[list[Any], Any, list[Any]]:
    import torch

    x = [_load(p).long() for p in phones]
    return x, torch.tensor([len(i) for i in x]), [_load(b) for b in bert]


@_one_thread
def gpt_prompt_logits(key: str, phones: list[str], bert: list[str], prompts: str, out: str) -> int:
    """Inference-path logits of ``infer_panel_batch_infer``'s prompt pass, every position.

    Rows are the left-padded ``[text, prompt]`` sequences upstream builds; returns the
    padded text length. One decoding step runs (``early_stop_num=0``).
    """
    import torch

    decoder = _decoder(key)
    x, x_lens, bert_list = _text_lists(phones, bert)
    recorder = _PromptRecorder(decoder.t2s_transformer)
    decoder.t2s_transformer = recorder
    try:
        with torch.no_grad():
            decoder.infer_panel_batch_infer(
                x, x_lens, _load(prompts).long(), bert_list, top_k=1, early_stop_num=0
            )
            logits = decoder.ar_predict_layer(recorder.prompt_states)
    finally:
        decoder.t2s_transformer = recorder.inner
    _save(logits, out)
    return int(x_lens.max())


@_one_thread
def gpt_greedy(
    key: str,
    phones: list[str],
    bert: list[str],
    prompts: str | None,
    mode: str,
    early_stop_num: int,
    eos_from: list[float] | None = None,
) -> list[list[int]]:
    """top_k=1 tokens (prompt stripped) from ``infer_panel_batch_infer`` (``mode="batch"``,
    TTS.py's parallel path) or ``infer_panel_naive_batched`` (``"naive"``, its default).

    ``eos_from=[token, scale]`` sets the EOS output row to ``scale`` times that token's
    for this call, so greedy decoding meets EOS at data-dependent steps.
    """
    import torch

    decoder = _decoder(key)
    x, x_lens, bert_list = _text_lists(phones, bert)
    prompt = None if prompts is None else _load(prompts).long()
    weight = decoder.ar_predict_layer.weight
    saved = weight.data[decoder.EOS].clone()
    if eos_from is not None:
        weight.data[decoder.EOS] = eos_from[1] * weight.data[int(eos_from[0])]
    infer = {"batch": decoder.infer_panel_batch_infer, "naive": decoder.infer_panel_naive_batched}
    try:
        with torch.no_grad():
            rows, _ = infer[mode](
                x, x_lens, prompt, bert_list, top_k=1, early_stop_num=early_stop_num
            )
    finally:
        weight.data[decoder.EOS] = saved
    prefix = 0 if prompt is None else prompt.shape[1]
    return [row.reshape(-1)[prefix:].tolist() for row in rows]


# -- s2 SoVITS ---------------------------------------------------------------------------


def _synthesizer(hps: Any, cls: Any = None) -> Any:
    """``SynthesizerTrn`` the way TTS.py's ``init_vits_weights`` constructs it."""
    from module.models import SynthesizerTrn

    cls = cls or SynthesizerTrn
    return cls(
        hps["data"]["filter_length"] // 2 + 1,
        hps["train"]["segment_size"] // hps["data"]["hop_length"],
        n_speakers=hps["data"]["n_speakers"],
        **hps["model"],
    )


@_one_thread
def sovits_build(key: str, state: str, hps: dict[str, Any]) -> dict[str, list[str]]:
    """Upstream's generator from a full (enc_q included) state dict; dec weight norm removed."""
    import torch

    model = _synthesizer(hps)
    result = model.load_state_dict(torch.load(state, map_location="cpu"), strict=False)
    model.dec.remove_weight_norm()
    _models[key] = model.eval()
    return _key_report(result)


@_one_thread
def sovits_extract_latent(key: str, ssl: str, out: str) -> None:
    """``SynthesizerTrn.extract_latent``: codes [B, n_q, T25] (upstream's order)."""
    import torch

    with torch.no_grad():
        _save(_models[key].extract_latent(_load(ssl)), out)


@_one_thread
def sovits_decode(
    key: str,
    codes: str,
    phones: str,
    refer: list[str],
    out: str,
    noise_scale: float = 0.5,
    speed: float = 1.0,
    seed: int = 0,
) -> None:
    """``SynthesizerTrn.decode``; one reference as a tensor, several as a list (averaged).

    The prior noise is ``torch.randn_like`` on the global generator, seeded here.
    """
    import torch

    refs = [_load(r) for r in refer]
    torch.manual_seed(seed)
    with torch.no_grad():
        wav = _models[key].decode(
            _load(codes),
            _load(phones).long(),
            refs[0] if len(refs) == 1 else refs,
            noise_scale=noise_scale,
            speed=speed,
        )
    _save(wav, out)


# -- upstream's file loaders ---------------------------------------------------------------


@_one_thread
def sovits_version(path: str) -> list[Any]:
    """``process_ckpt.get_sovits_version_from_path_fast``: [symbol version, model version, lora]."""
    from process_ckpt import get_sovits_version_from_path_fast

    return list(get_sovits_version_from_path_fast(path))


@_one_thread
def tts_load(key: str, s1: str, s2: str, workdir: str) -> dict[str, Any]:
    """TTS.py's ``init_t2s_weights`` and ``init_vits_weights`` on the given files."""
    import TTS_infer_pack.TTS as tts_module

    config = tts_module.TTS_Config(
        {"custom": {"device": "cpu", "is_half": False, "version": "v2",
                    "t2s_weights_path": s1, "vits_weights_path": s2}}
    )  # fmt: skip
    config.configs_path = str(Path(workdir) / "tts_infer.yaml")  # save_configs writes here
    tts = object.__new__(tts_module.TTS)
    tts.configs, tts.sv_model, tts.t2s_model, tts.vits_model = config, None, None, None
    s1_log: list[Any] = []
    s2_log: list[Any] = []
    saved = tts_module.Text2SemanticLightningModule, tts_module.SynthesizerTrn
    tts_module.Text2SemanticLightningModule = _recording(
        saved[0], "load_inference_only_state_dict", s1_log
    )
    tts_module.SynthesizerTrn = _recording(saved[1], "load_state_dict", s2_log)
    try:
        with _cwd(workdir):
            tts.init_t2s_weights(s1)
            tts.init_vits_weights(s2)
    finally:
        tts_module.Text2SemanticLightningModule, tts_module.SynthesizerTrn = saved
    _models[f"{key}.gpt"], _models[f"{key}.sovits"] = tts.t2s_model, tts.vits_model
    return {
        "s1": _key_report(s1_log[-1]),
        "s2": _key_report(s2_log[-1]),
        "version": tts.configs.version,
        "n_speakers": tts.configs.n_speakers,
        "max_sec": tts.configs.max_sec,
        "sampling_rate": tts.configs.sampling_rate,
    }


_WEBUI_NAMES = ("DictToAttrRecursive", "change_sovits_weights", "change_gpt_weights")


def _webui_namespace() -> dict[str, Any]:
    """inference_webui.py's weight loaders, compiled from its source, with their globals."""
    import GPT_SoVITS
    import torch
    from AR.models.t2s_lightning_module import Text2SemanticLightningModule
    from GPT_SoVITS.module.models import SynthesizerTrn  # as the webui imports it
    from process_ckpt import get_sovits_version_from_path_fast, load_sovits_new

    path = Path(GPT_SoVITS.__file__).with_name("inference_webui.py")
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    nodes = {
        n.name: n
        for n in tree.body
        if isinstance(n, ast.ClassDef | ast.FunctionDef) and n.name in _WEBUI_NAMES
    }
    if set(nodes) != set(_WEBUI_NAMES):
        raise RuntimeError(f"inference_webui.py lacks {set(_WEBUI_NAMES) - set(nodes)}")
    module = ast.Module(body=[nodes[name] for name in _WEBUI_NAMES], type_ignores=[])
    namespace: dict[str, Any] = {
        "__name__": "inference_webui",
        "torch": torch,
        "json": json,
        "gc": gc,
        "i18n": str,
        "is_half": False,
        "device": "cpu",
        "version": "v2",
        "name2sovits_path": {},
        "name2gpt_path": {},
        "dict_language_v1": {"v1": True},  # which one it picks is reported
        "dict_language_v2": {"v2": True},
        "get_sovits_version_from_path_fast": get_sovits_version_from_path_fast,
        "load_sovits_new": load_sovits_new,
        "SynthesizerTrn": SynthesizerTrn,
        "Text2SemanticLightningModule": Text2SemanticLightningModule,
    }
    exec(compile(module, str(path), "exec"), namespace)
    return namespace


@_one_thread
def webui_load(key: str, s1: str, s2: str, workdir: str) -> dict[str, Any]:
    """inference_webui.py's ``change_sovits_weights`` (to its load) and ``change_gpt_weights``."""
    namespace = _webui_namespace()
    s1_log: list[Any] = []
    s2_log: list[Any] = []
    namespace["Text2SemanticLightningModule"] = _recording(
        namespace["Text2SemanticLightningModule"], "load_inference_only_state_dict", s1_log
    )
    namespace["SynthesizerTrn"] = _recording(namespace["SynthesizerTrn"], "load_state_dict", s2_log)
    Path(workdir, "weight.json").write_text(json.dumps({"GPT": {}, "SoVITS": {}}))
    with _cwd(workdir):
        next(namespace["change_sovits_weights"](s2))  # the app's own first call, as at startup
        namespace["change_gpt_weights"](s1)
    _models[f"{key}.gpt"], _models[f"{key}.sovits"] = namespace["t2s_model"], namespace["vq_model"]
    return {
        "s1": _key_report(s1_log[-1]),
        "s2": _key_report(s2_log[-1]),
        "version": namespace["version"],
        "model_version": namespace["model_version"],
        "languages": next(iter(namespace["dict_language"])),
        "max_sec": namespace["max_sec"],
        "sampling_rate": namespace["hps"].data.sampling_rate,
    }


@_one_thread
def webui_load_gpt(key: str, s1: str, workdir: str) -> dict[str, Any]:
    """``change_gpt_weights`` alone (s1 files without a matching s2 generator)."""
    namespace = _webui_namespace()
    log: list[Any] = []
    namespace["Text2SemanticLightningModule"] = _recording(
        namespace["Text2SemanticLightningModule"], "load_inference_only_state_dict", log
    )
    Path(workdir, "weight.json").write_text(json.dumps({"GPT": {}, "SoVITS": {}}))
    with _cwd(workdir):
        namespace["change_gpt_weights"](s1)
    _models[f"{key}.gpt"] = namespace["t2s_model"]
    return {"s1": _key_report(log[-1]), "max_sec": namespace["max_sec"]}


@_one_thread
def sovits_from_file(path: str) -> dict[str, Any]:
    """Build ``SynthesizerTrn`` from a file's own config (TTS.py's way) and load it; what fails."""
    from process_ckpt import load_sovits_new

    saved = load_sovits_new(path)
    try:
        model = _synthesizer(saved["config"])
        return {"ok": True, **_key_report(model.load_state_dict(saved["weight"], strict=False))}
    except Exception as exc:  # reported to the test, which states the expected failure
        return {"ok": False, "error": f"{type(exc).__name__}: {exc}"}


# -- upstream's own files --------------------------------------------------------------------


@_one_thread
def save_peer_files(out: str, seed: int) -> dict[str, str]:
    """Random upstream models saved the way upstream's trainers save them.

    s2G: ``process_ckpt.savee`` (plain ``PK``), and the same content written by
    ``process_ckpt.my_save2`` with the ``01`` (v2) tag. s1: the s1 trainer's layout via
    ``process_ckpt.my_save``. The codebook is filled (a trained model's is k-means-made).
    """
    from collections import OrderedDict

    import process_ckpt
    import torch
    import utils
    import yaml
    from AR.models.t2s_lightning_module import Text2SemanticLightningModule

    configs = Path(utils.__file__).with_name("configs")
    hps = utils.get_hparams_from_file(str(configs / "s2.json"))
    hps.model.version = "v2"  # the webui's training launcher sets it
    hps.save_weight_dir = out
    hps.name = "peer"
    torch.manual_seed(seed)
    generator = _synthesizer(hps)
    codebook = generator.quantizer.vq.layers[0]._codebook
    codebook.embed.normal_()
    codebook.inited.fill_(1.0)
    with _cwd(out):
        message = process_ckpt.savee(generator.state_dict(), "peer_s2G", 8, 160, hps, "v2")
        if message != "Success.":
            raise RuntimeError(message)
        paths = {"s2G": str(Path(out, "peer_s2G.pth")), "s2G_01": str(Path(out, "peer_s2G_01.pth"))}
        tags = process_ckpt.model_version2byte
        tags["v2"] = b"01"  # the tag older upstream versions wrote for v2
        try:
            process_ckpt.my_save2(process_ckpt.load_sovits_new(paths["s2G"]), paths["s2G_01"], "v2")
        finally:
            del tags["v2"]

        config = yaml.safe_load((configs / "s1longer-v2.yaml").read_text(encoding="utf-8"))
        with _without_accuracy_metric():
            gpt = Text2SemanticLightningModule(config, "****", is_train=False)
        weight = OrderedDict((k, v.half()) for k, v in gpt.state_dict().items())
        paths["s1"] = str(Path(out, "peer-e8.ckpt"))
        process_ckpt.my_save({"weight": weight, "config": config, "info": "GPT-e8"}, paths["s1"])
    return paths
