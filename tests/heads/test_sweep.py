"""Heads-count sweep components: FLOPs against a hand count, attention-weight elements against the returned
weights, parameters, input checks, the paired comparisons against direct metric calls, the table across
seeds and the summary's rule."""

from __future__ import annotations

import resource
import statistics

import numpy as np
import pytest
import torch
from sklearn import metrics as skm

from attnlab.errors import InputError
from attnlab.heads.sweep import (attention_elements_per_token, batch1_latency, batch_throughput, check_head_counts,
                                 count_flops, length_groups, parameter_counts, parse_int_list, peak_memory)
from attnlab.heads.sweep_summary import (add_cost_ratios, aggregate_runs, compare_head_counts, quality_paths,
                                         summarize)
from attnlab.metrics.compare import paired_bootstrap_test
from attnlab.models.classifier import EncoderClassifier
from attnlab.train.loop import TensorData

D, FF, LAYERS, CLASSES, VOCAB = 16, 24, 2, 3, 40


def model(n_heads: int) -> EncoderClassifier:
    torch.manual_seed(0)
    return EncoderClassifier(vocab_size=VOCAB, n_classes=CLASSES, d_model=D, n_heads=n_heads, n_layers=LAYERS,
                             d_ff=FF, max_len=12, dropout=0.0).eval()


def padded(lengths):
    rng = np.random.default_rng(1)
    ids = np.zeros((len(lengths), max(lengths)), dtype=np.int64)
    for i, t in enumerate(lengths):
        ids[i, :t] = rng.integers(1, VOCAB, t)
    return ids, np.array(lengths)


def hand_count(lengths) -> int:
    """Per sequence of T tokens and per layer: Q,K,V and output projections 2·T·d·4d, feed-forward 2·2·T·d·d_ff,
    QKᵀ and AV 2·2·T²·d (summed over heads: H·T²·d_head = T²·d); the head 2·d·C once per sequence."""
    return sum(LAYERS * (8 * t * D * D + 4 * t * D * FF + 4 * t * t * D) + 2 * D * CLASSES for t in lengths)


LENGTHS = [3, 7, 7, 12, 1, 5]


@pytest.mark.parametrize("heads", [1, 2, 4, 8])
def test_flops_match_the_hand_count_and_do_not_depend_on_heads(heads):
    ids, lengths = padded(LENGTHS)
    res = count_flops(model(heads), length_groups(ids, lengths))
    assert res["total"] == hand_count(LENGTHS)
    assert res["tokens"] == sum(LENGTHS)
    assert res["per_token"] == pytest.approx(hand_count(LENGTHS) / sum(LENGTHS))
    # the attention matmuls are counted (torch's own table misses the CPU flash kernel)
    attention = sum(v for k, v in res["by_op"].items() if "attention" in k or "bmm" in k)
    assert attention == sum(LAYERS * 4 * t * t * D for t in LENGTHS)


def test_length_groups_cut_every_row_to_its_length():
    ids, lengths = padded(LENGTHS)
    groups = length_groups(ids, lengths)
    assert sorted(g.shape[1] for g in groups) == sorted(set(LENGTHS))
    assert sum(g.shape[0] for g in groups) == len(LENGTHS)
    assert all((g != 0).all() for g in groups)  # no padding id left


@pytest.mark.parametrize("heads", [1, 4])
def test_attention_elements_equal_the_returned_weights_per_token(heads):
    ids, lengths = padded(LENGTHS)
    m, elements = model(heads), 0
    with torch.no_grad():
        for g in length_groups(ids, lengths):
            elements += sum(w.numel() for w in m(torch.from_numpy(g), return_attn=True).attentions)  # (n, H, T, T)
    assert attention_elements_per_token(n_heads=heads, n_layers=LAYERS, lengths=lengths) == pytest.approx(
        elements / sum(LENGTHS))


def test_parameter_counts():
    m = model(2)
    counts = parameter_counts(m)
    assert counts["total"] == sum(p.numel() for p in m.parameters())
    assert counts["non_embedding"] == counts["total"] - m.tok_emb.weight.numel() - m.pos_emb.weight.numel()
    assert parameter_counts(model(8)) == counts  # W_q, W_k, W_v, W_o are d_model x d_model whatever H is


def test_latency_and_throughput_report_what_they_timed():
    ids, lengths = padded(LENGTHS)
    m = model(2)
    rows = [ids[i, :t] for i, t in enumerate(lengths)]
    lat = batch1_latency(m, rows, warmup=2, repeats=2)
    assert lat["calls"] == 2 * len(rows) and lat["rows"] == len(rows)
    assert 0 < lat["p25_ms"] <= lat["median_ms"] <= lat["p75_ms"]
    data = TensorData(ids, (ids != 0).astype(np.uint8), lengths, np.zeros(len(lengths), dtype=np.int64))
    thr = batch_throughput(m, data, batch_size=4, repeats=2)
    assert thr["examples"] == len(lengths)
    assert thr["examples_per_s"] == pytest.approx(len(lengths) / thr["seconds_median"])
    assert thr["tokens_per_s"] == pytest.approx(sum(LENGTHS) / thr["seconds_median"])
    with pytest.raises(InputError):
        batch1_latency(m, [])


def test_peak_memory_reads_ru_maxrss():
    mem = peak_memory("cpu", rss_at_start_mib=1.0)
    assert mem["mib"] >= resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 - 1e-9 > 0
    assert mem["rss_at_start_mib"] == 1.0 and "ru_maxrss" in mem["kind"]


@pytest.mark.parametrize("text, fragment", [("", "is empty"), (" , ", "is empty"), ("1,x", "integers"),
                                             ("1,,2", "integers"), ("0,2", ">= 1"), ("2,4,2", "more than once")])
def test_parse_int_list_refuses(text, fragment):
    with pytest.raises(InputError, match=fragment):
        parse_int_list(text, "--heads", minimum=1)


def test_check_head_counts_names_the_valid_counts():
    check_head_counts((1, 2, 4, 8, 16), d_model=128)
    with pytest.raises(InputError, match=r"not divisible by 5, 7 head\(s\).*valid head counts for d_model=12: "
                                         r"1, 2, 3, 4, 6, 12$"):
        check_head_counts((1, 3, 5, 7), d_model=12)  # 3 divides 12


# ------------------------------------------------------------------ comparisons and summary

LABELS = ["ham", "spam"]


def predictions(seed: int, n: int = 120):
    """Three 'head counts' on the same rows: 1 is mediocre, 2 nearly the same, 4 nearly perfect."""
    rng = np.random.default_rng(seed)
    y = np.where(rng.random(n) < 0.3, "spam", "ham")
    flip = lambda p: np.where(rng.random(n) < p, np.where(y == "spam", "ham", "spam"), y)  # noqa: E731
    one = flip(0.25)
    two = np.where(rng.random(n) < 0.05, flip(0.5), one)
    four = flip(0.01)
    ids = [str(i) for i in range(n)]
    return {h: {"ids": ids, "y_true": list(y), "y_pred": list(p)} for h, p in ((1, one), (2, two), (4, four))}


@pytest.fixture(scope="module")
def two_seeds():
    preds = {}
    for s in (0, 1):
        for h, p in predictions(s).items():
            preds[(h, s)] = p
    return preds


def test_comparisons_equal_direct_paired_bootstrap_calls(two_seeds):
    comps = compare_head_counts(two_seeds, heads=[1, 2, 4], seeds=[0, 1], labels=LABELS, positive_label="spam",
                                n_resamples=300, seed=5)
    assert [(c["baseline"], c["system"], c["kind"]) for c in comps] == [
        (1, 2, "vs the smallest"), (1, 4, "vs the smallest"), (2, 4, "vs the next smaller")]
    for c in comps:
        a = [two_seeds[(c["baseline"], s)] for s in (0, 1)]
        b = [two_seeds[(c["system"], s)] for s in (0, 1)]
        y = a[0]["y_true"] + a[1]["y_true"]
        pa, pb = a[0]["y_pred"] + a[1]["y_pred"], b[0]["y_pred"] + b[1]["y_pred"]
        direct = paired_bootstrap_test(y, pa, pb, labels=LABELS, metrics=["accuracy", "macro.f1", "per_class.spam.f1"],
                                       positive_label="spam", n_resamples=300, seed=5)
        assert c["n_rows"] == len(y) == 240
        for key, path in quality_paths(LABELS, "spam").items():
            t = c["tests"][key]
            assert {k: t[k] for k in direct[path]} == direct[path]
            assert t["significant"] == (t["low"] > 0 or t["high"] < 0)
        # the observed scores are scikit-learn's
        assert c["tests"]["macro_f1"]["system"] == pytest.approx(skm.f1_score(y, pb, average="macro"), abs=1e-12)
        assert c["tests"]["positive_f1"]["baseline"] == pytest.approx(skm.f1_score(y, pa, pos_label="spam"), abs=1e-12)
        assert c["tests"]["accuracy"]["difference"] == pytest.approx(
            skm.accuracy_score(y, pb) - skm.accuracy_score(y, pa), abs=1e-12)
        for s in (0, 1):  # each seed on its own too
            one = paired_bootstrap_test(two_seeds[(c["baseline"], s)]["y_true"], two_seeds[(c["baseline"], s)]["y_pred"],
                                        two_seeds[(c["system"], s)]["y_pred"], labels=LABELS, metrics=["macro.f1"],
                                        n_resamples=300, seed=5)
            assert c["per_seed"][str(s)]["macro_f1"]["difference"] == one["macro.f1"]["difference"]
            assert c["per_seed"][str(s)]["macro_f1"]["low"] == one["macro.f1"]["low"]


def test_comparisons_refuse_different_test_rows(two_seeds):
    broken = dict(two_seeds)
    broken[(2, 1)] = {**broken[(2, 1)], "ids": list(reversed(broken[(2, 1)]["ids"]))}
    with pytest.raises(ValueError, match="different rows"):
        compare_head_counts(broken, heads=[1, 2, 4], seeds=[0, 1], labels=LABELS, positive_label="spam")


def run_entry(h, s, value, latency):
    return {"heads": h, "seed": s, "d_head": 16 // h,
            "quality": {"macro_f1": {"value": value, "low": value - 0.05, "high": value + 0.05}},
            "costs": {"params": 1000, "flops_per_token": 500.0, "attention_elements_per_token": 10.0 * h,
                      "train_seconds": 10.0, "train_tokens_per_s": 100.0, "latency_ms": latency,
                      "throughput_per_s": 200.0, "peak_memory_mib": 300.0}}


def test_aggregate_runs_mean_and_spread_across_seeds():
    runs = [run_entry(1, 0, 0.8, 1.0), run_entry(1, 1, 0.9, 2.0), run_entry(4, 0, 0.95, 3.0), run_entry(4, 1, 0.97, 5.0)]
    table = aggregate_runs(runs, [1, 4])
    row = table[0]
    assert row["seeds"] == [0, 1] and row["d_head"] == 16
    assert row["quality"]["macro_f1"]["mean"] == pytest.approx(0.85)
    assert row["quality"]["macro_f1"]["sd"] == pytest.approx(statistics.stdev([0.8, 0.9]))
    assert row["quality"]["macro_f1"]["low"] is None  # several seeds: the spread, not one run's interval
    assert table[1]["costs"]["latency_ms"] == {"mean": 4.0, "sd": pytest.approx(statistics.stdev([3.0, 5.0])),
                                               "min": 3.0, "max": 5.0, "n": 2}
    single = aggregate_runs([run_entry(1, 0, 0.8, 1.0)], [1])[0]["quality"]["macro_f1"]
    assert (single["mean"], single["sd"], single["low"], single["high"]) == (0.8, None, pytest.approx(0.75),
                                                                              pytest.approx(0.85))


def summary_for(preds, seeds):
    heads = [1, 2, 4]
    comps = compare_head_counts(preds, heads=heads, seeds=seeds, labels=LABELS, positive_label="spam",
                                n_resamples=300)
    runs = [run_entry(h, s, skm.f1_score(preds[(h, s)]["y_true"], preds[(h, s)]["y_pred"], average="macro"),
                      1.0 + h / 10) for h in heads for s in seeds]
    table = aggregate_runs(runs, heads)
    add_cost_ratios(comps, table)
    return comps, summarize(table, comps, positive_label="spam", confidence=0.95, n_resamples=300, seeds=seeds)


def test_summary_applies_the_stated_rule(two_seeds):
    comps, summary = summary_for(two_seeds, [0, 1])
    significant_gain = [c["system"] for c in comps if c["baseline"] == 1 and c["tests"]["macro_f1"]["low"] > 0]
    assert summary["helped"] == significant_gain == [4]  # 4 is far better; 2 is a near copy of 1
    assert summary["verdict"].startswith("More heads helped on this data: macro-F1 of 4 head(s)")
    assert "excludes 0" in summary["rule"] and "300 resamples" in summary["rule"]
    c41 = next(c for c in comps if (c["baseline"], c["system"]) == (1, 4))
    assert c41["cost_ratios"]["latency_ms"] == pytest.approx(1.4 / 1.1)
    assert c41["cost_ratios"]["attention_elements_per_token"] == pytest.approx(4.0)
    line = next(x for x in summary["comparisons"] if x.startswith("4 heads vs 1:"))
    t = c41["tests"]["macro_f1"]
    assert f"macro-F1 {t['difference']:+.4f} [{t['low']:+.4f}, {t['high']:+.4f}], significant" in line
    assert "1.27× batch-1 latency" in line and "4.00× attention-weight elements per token" in line
    assert "same 1,000 parameters" in summary["costs"]


def test_summary_says_when_more_heads_did_not_help(two_seeds):
    same = {(h, s): two_seeds[(1, s)] for h in (1, 2, 4) for s in (0,)}
    comps, summary = summary_for(same, [0])
    assert summary["helped"] == [] and summary["hurt"] == []
    assert summary["verdict"].startswith("More heads did not measurably help on this data")
    assert all(", not significant" in line for line in summary["comparisons"])
    worse = {(1, 0): two_seeds[(4, 0)], (2, 0): two_seeds[(2, 0)], (4, 0): two_seeds[(1, 0)]}
    _, summary = summary_for(worse, [0])
    assert summary["hurt"] == [2, 4] and "Significantly worse than 1 head(s): 2, 4 head(s)." in summary["verdict"]
