"""Continuous batching: requests join and leave a running decode, each getting exactly the
tokens `generate` gives it alone (fp32, same seed)."""

from __future__ import annotations

from collections import defaultdict

import pytest
import torch
from torch import nn

from voicemill.errors import RejectedInput
from voicemill.model.gpt.config import GPTConfig
from voicemill.model.gpt.continuous import ContinuousDecoder, DecodeRequest, DecoderFull
from voicemill.model.gpt.generate import generate
from voicemill.model.gpt.model import Text2SemanticModel

EOS = GPTConfig.tiny().eos


def tiny(eos_bias: float) -> Text2SemanticModel:
    """A random tiny model whose EOS logit is biased so rows end at varied steps."""
    torch.manual_seed(0)
    model = Text2SemanticModel(GPTConfig.tiny()).eval()
    head = nn.Linear(128, EOS + 1)
    with torch.no_grad():
        head.weight.copy_(model.ar_predict_layer.weight)
        head.bias.zero_()
        head.bias[EOS] = eos_bias
    model.ar_predict_layer = head
    return model


def request(tx: int, tp: int, *, seed: int, **settings) -> DecodeRequest:
    g = torch.Generator().manual_seed(seed)
    return DecodeRequest(
        phone_ids=torch.randint(0, 732, (tx,), generator=g),
        bert=torch.randn(1024, tx, generator=g),
        prompt_semantic=torch.randint(0, EOS, (tp,), generator=g) if tp else None,
        seed=seed,
        **settings,
    )


def alone(model: Text2SemanticModel, r: DecodeRequest) -> list[int]:
    """`generate` of this one request (batch 1)."""
    prompt = None if r.prompt_semantic is None else r.prompt_semantic[None]
    (tokens,) = generate(
        model,
        r.phone_ids[None],
        torch.tensor([r.phone_ids.shape[0]]),
        r.bert[None],
        prompt,
        top_k=r.top_k,
        top_p=r.top_p,
        temperature=r.temperature,
        repetition_penalty=r.repetition_penalty,
        max_new_tokens=r.max_new_tokens,
        min_new_tokens=r.min_new_tokens,
        seed=[r.seed],
    )
    return tokens.tolist()


def drain(decoder: ContinuousDecoder, tokens: dict[int, list[int]]) -> None:
    """Step until every request has finished, collecting tokens per handle."""
    while decoder.active:
        for event in decoder.step():
            if event.token is not None:
                tokens[event.handle].append(event.token)


def test_joining_and_leaving_requests_get_their_solo_tokens():
    model = tiny(eos_bias=0.5)
    settings = [
        {"top_k": 15},
        {"top_k": 5, "top_p": 0.8, "temperature": 0.7, "repetition_penalty": 1.0},
        {"top_k": 64, "top_p": 0.95, "temperature": 1.3, "repetition_penalty": 1.5},
        {"top_k": 1, "max_new_tokens": 12},  # greedy; ends at its budget
    ]
    shapes = [(9, 6), (4, 0), (12, 3), (6, 10), (3, 0), (11, 8), (7, 2), (5, 4)]  # (Tx, Tp)
    requests = [
        request(tx, tp, seed=100 + i, **{"max_new_tokens": 30, **settings[i % 4]})
        for i, (tx, tp) in enumerate(shapes)
    ]
    joins = [0, 0, 0, 2, 4, 5, 9, 9]  # earliest step each may join (later when rows are full)

    decoder = ContinuousDecoder(model, max_batch=3, max_len=64)
    handles: dict[int, int] = {}  # handle -> request index
    tokens: dict[int, list[int]] = defaultdict(list)
    rows_used: dict[int, list[int]] = defaultdict(list)  # cache row -> handles it hosted
    mid_way_joins = holes = 0
    step = 0
    waiting = list(range(len(requests)))
    while waiting or decoder.active:
        while waiting and joins[waiting[0]] <= step and decoder.free_rows:
            if any(tokens[h] for h in decoder.active):  # others already mid-sequence
                mid_way_joins += 1
            h = decoder.add(requests[waiting.pop(0)])
            handles[h] = len(handles)
            rows_used[decoder.active[h]].append(h)
        busy = sorted(decoder.active.values())
        holes += busy != list(range(len(busy)))  # a free row below a busy one: dummy row
        for event in decoder.step():
            if event.token is not None:
                tokens[event.handle].append(event.token)
        step += 1

    assert decoder.free_rows == 3
    assert mid_way_joins >= 3
    assert any(len(hs) > 1 for hs in rows_used.values())  # a finished row was reused
    assert holes > 0
    got = [tokens[h] for h in sorted(handles, key=handles.get)]
    assert len({len(t) for t in got}) > 2  # requests really left at different steps
    for r, t in zip(requests, got, strict=True):
        assert t == alone(model, r)


def test_cancel_frees_the_row_at_once_and_spares_the_others():
    model = tiny(eos_bias=-5.0)  # no early EOS: every request runs to its budget
    requests = [
        request(tx, tp, seed=s, max_new_tokens=20)
        for s, (tx, tp) in enumerate([(8, 5), (5, 0), (10, 7)])
    ]
    decoder = ContinuousDecoder(model, max_batch=3, max_len=40)
    a, b, c = (decoder.add(r) for r in requests)
    tokens: dict[int, list[int]] = defaultdict(list)
    for _ in range(6):
        for event in decoder.step():
            tokens[event.handle].append(event.token)
    assert decoder.cancel(b)
    assert decoder.free_rows == 1 and set(decoder.active) == {a, c}
    assert not decoder.cancel(b)  # already gone
    late = request(6, 3, seed=7, max_new_tokens=20)
    d = decoder.add(late)  # takes b's row, stale K/V and all
    assert decoder.active[d] == 1
    events = decoder.step()
    assert b not in {e.handle for e in events}
    for event in events:
        tokens[event.handle].append(event.token)
    drain(decoder, tokens)
    assert tokens[a] == alone(model, requests[0])
    assert tokens[c] == alone(model, requests[2])
    assert tokens[d] == alone(model, late)
    assert tokens[b] == alone(model, requests[1])[:6]


@pytest.mark.parametrize(
    ("min_new", "max_new", "expected_len", "ends_on_eos"),
    [
        (11, 40, 11, True),  # EOS as soon as allowed; that step's token is dropped
        (11, 8, 8, False),  # budget reached before EOS is allowed; the last token is kept
        (0, 5, 0, True),  # EOS on the very first step
        (11, 1, 1, False),
    ],
)
def test_eos_and_budget_rules_match_generate(
    min_new: int, max_new: int, expected_len: int, ends_on_eos: bool
):
    model = tiny(eos_bias=50.0)  # EOS is the argmax whenever it is allowed
    r = request(6, 4, seed=3, min_new_tokens=min_new, max_new_tokens=max_new)
    decoder = ContinuousDecoder(model, max_batch=2, max_len=64)
    handle = decoder.add(r)
    events = []
    while decoder.active:
        events += decoder.step()
    assert [e.finished for e in events] == [False] * (len(events) - 1) + [True]
    assert all(e.handle == handle for e in events)
    assert (events[-1].token is None) == ends_on_eos
    got = [e.token for e in events if e.token is not None]
    assert len(got) == expected_len and EOS not in got
    assert got == alone(model, r)


def test_rejects_a_full_decoder_and_a_request_past_max_len():
    model = tiny(eos_bias=0.0)
    decoder = ContinuousDecoder(model, max_batch=2, max_len=30)
    fits = request(10, 5, seed=0, max_new_tokens=15)  # exactly 30 slots
    with pytest.raises(RejectedInput, match="request_too_long"):
        decoder.add(request(10, 5, seed=0, max_new_tokens=16))
    with pytest.raises(RejectedInput, match="request_too_long"):
        decoder.add(request(31, 0, seed=0, max_new_tokens=1))
    decoder.add(fits)
    decoder.add(fits)
    with pytest.raises(DecoderFull):
        decoder.add(fits)
    assert decoder.free_rows == 0
    with pytest.raises(ValueError, match="eval"):
        ContinuousDecoder(model.train(), max_batch=1, max_len=8)
