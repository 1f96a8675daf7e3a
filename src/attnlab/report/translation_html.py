"""The translation half of the HTML report: what :func:`attnlab.report.html.render_html` shows for a
translation report.

``translation_context(report, history, samples)`` returns the template variables: the metric rows, sample
rows (source when known, reference, hypothesis; escaped by jinja2's autoescaping like every dataset text)
and length statistics for any translation report; for a training run (``report["run"]``) also the run card
(model, data split, training, decoding, environment) and the training curve from history.jsonl
(validation BLEU/chrF and loss against elapsed training minutes, the selected epoch marked).

Torch is never imported; matplotlib only when a plot is drawn.

>>> card = run_card({"n_parameters": 1470976, "precision": "bf16", "device": "cpu",
...                  "config": {"model": {"d_model": 128, "n_heads": 4, "n_encoder_layers": 2,
...                                       "n_decoder_layers": 2, "d_ff": 512}}})
>>> card[0]["rows"][:2]
[('shape', 'd_model 128 · 4 heads · 2 encoder + 2 decoder layers · d_ff 512'), ('parameters', '1,470,976 (1.47 M)')]
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from attnlab.report import plots
from attnlab.report.html import _ci, fmt

MAX_SAMPLES = 20


def _metric_rows(report: Mapping[str, Any]) -> list[dict[str, Any]]:
    details = report.get("details") or {}
    return [{"key": k, "name": (details.get(k) or {}).get("name") or k.upper(), "value": fmt(v, 2),
             "ci": _ci(report, k, 2), "signature": (report.get("signatures") or {}).get(k, ""),
             "lower_is_better": k == "ter"} for k, v in report["metrics"].items()]


def _lengths(samples: Sequence[Mapping[str, Any]]) -> tuple[dict[str, Any], str]:
    """Word counts of hypotheses and references (first reference), and their scatter plot."""
    hyp = [len(str(s.get("hypothesis", "")).split()) for s in samples]
    ref = [len(str(s.get("reference", "")).split()) for s in samples]
    stats = {"segments": len(samples), "hyp_words": sum(hyp), "ref_words": sum(ref),
             "hyp_mean": sum(hyp) / len(hyp), "ref_mean": sum(ref) / len(ref),
             "ratio": sum(hyp) / sum(ref) if sum(ref) else None, "empty_hyp": sum(1 for h in hyp if h == 0)}
    return stats, plots.lengths_svg(hyp, ref)


def _count(value: Any) -> str:
    return f"{value:,}" if isinstance(value, int) else fmt(value)


def _model_rows(run: Mapping[str, Any]) -> list[tuple[str, str]]:
    m = (run.get("config") or {}).get("model") or {}
    shape = (f"d_model {m.get('d_model', '?')} · {m.get('n_heads', '?')} heads · {m.get('n_encoder_layers', '?')} "
             f"encoder + {m.get('n_decoder_layers', '?')} decoder layers · d_ff {m.get('d_ff', '?')}")
    rows = [("shape", shape)]
    n = run.get("n_parameters")
    if isinstance(n, int):
        rows.append(("parameters", f"{n:,} ({n / 1e6:.2f} M)"))
    if "vocab_size" in m:
        vocab = "one shared" if m.get("shared_vocab", True) else "one per language"
        rows.append(("subwords", f"BPE, {m['vocab_size']:,} per vocabulary ({vocab}); tied embeddings: "
                                 f"{m.get('tie_embeddings', '?')}; at most {m.get('max_len', '?')} tokens"))
    precision = (run.get("config") or {}).get("train", {}).get("precision")
    rows.append(("precision", f"{run.get('precision', '?')} (requested {precision}) on {run.get('device', '?')}"
                 if precision else f"{run.get('precision', '?')} on {run.get('device', '?')}"))
    return rows


def _data_rows(data: Mapping[str, Any]) -> list[tuple[str, str]]:
    split = data.get("split") or {}
    sizes = " · ".join(f"{k} {_count(split[k])}" for k in ("train", "val", "test") if k in split)
    if split.get("excluded"):
        sizes += f" (excluded {_count(split['excluded'])})"
    rows = [("source", f"{data.get('source', '?')}: {_count(data.get('n_pairs'))} sentence pairs"),
            ("split", f"{sizes} (strategy {data.get('strategy', '?')})")]
    held = data.get("held_out") or {}
    if held:
        rows.append(("held-out books", "; ".join(f"{k}: {', '.join(map(str, v))}" for k, v in held.items())))
    for note in data.get("split_notes") or []:
        if not (held and str(note).startswith("held out whole groups")):  # the row above says it already
            rows.append(("split note", str(note)))
    cut = {k: v for k, v in (data.get("truncated") or {}).items() if any((v or {}).values())}
    rows.append(("truncated to max_len", "; ".join(f"{k}: {v.get('source', 0)} sources, {v.get('target', 0)} "
                                                   f"targets" for k, v in cut.items()) or "none"))
    if data.get("split_fingerprint"):
        rows.append(("split fingerprint", str(data["split_fingerprint"])))
    return rows


def _training_rows(run: Mapping[str, Any], history: Sequence[Mapping[str, Any]] | None) -> list[tuple[str, str]]:
    t, train_cfg = run.get("training") or {}, (run.get("config") or {}).get("train") or {}
    rows = [("epochs", f"{t.get('epochs_run', '?')} run; saved model from epoch {t.get('best_epoch', '?')} (best "
                       f"validation {t.get('monitor', '?')})" + ("; stopped early" if t.get("stopped_early") else ""))]
    if isinstance(t.get("seconds"), (int, float)):
        rows.append(("training time", f"{t['seconds'] / 60:.1f} min"))
    speeds = [h["train_target_tokens_per_s"] for h in history or [] if h.get("train_target_tokens_per_s")]
    if speeds:
        rows.append(("throughput", f"{sum(speeds) / len(speeds):,.0f} target tokens/s (mean over epochs)"))
    if train_cfg:
        rows.append(("optimiser", f"peak lr {train_cfg.get('lr')}, warmup {train_cfg.get('warmup_steps')} steps, "
                                  f"{train_cfg.get('batch_tokens')} tokens per batch, label smoothing "
                                  f"{train_cfg.get('label_smoothing')}, seed {train_cfg.get('seed')}"))
    return rows


def _decoding_rows(d: Mapping[str, Any], n: Any) -> list[tuple[str, str]]:
    search = "greedy" if d.get("beam_size") == 1 else f"beam {d.get('beam_size', '?')}"
    rows = [("search", f"{search}, length penalty {d.get('length_penalty', '?')}, at most "
                       f"{d.get('max_new_tokens', '?')} new tokens")]
    if isinstance(d.get("seconds"), (int, float)):
        rows.append(("speed", f"{d.get('sentences_per_second', '?')} sentences/s ({d['seconds']:.1f} s for {n} "
                              "test sentences)"))
    rows.append(("stopped at max length", f"{_count(d.get('hit_max_length', 0))} of {n}"))
    rows.append(("sources truncated", _count(d.get("sources_truncated", 0))))
    return rows


def run_card(run: Mapping[str, Any], history: Sequence[Mapping[str, Any]] | None = None,
             n: Any = "?") -> list[dict[str, Any]]:
    """The run card: ``[{title, rows: [(name, text)]}]`` for the model, data, training, decoding and
    environment of a translation training run (``report["run"]``); absent entries are left out."""
    card = [{"title": "Model", "rows": _model_rows(run)}]
    if run.get("data"):
        card.append({"title": "Data", "rows": _data_rows(run["data"])})
    if run.get("training"):
        card.append({"title": "Training", "rows": _training_rows(run, history)})
    if run.get("decoding"):
        card.append({"title": "Decoding (test split)", "rows": _decoding_rows(run["decoding"], n)})
    env = [(k.removesuffix("_version"), str(run[k])) for k in ("attnlab_version", "torch_version", "python", "created")
           if run.get(k)]
    if isinstance(run.get("seconds_total"), (int, float)):
        env.append(("whole run", f"{run['seconds_total'] / 60:.1f} min"))
    if env:
        card.append({"title": "Environment", "rows": env})
    return card


def translation_context(report: Mapping[str, Any], history: Sequence[Mapping[str, Any]] | None,
                        samples: Sequence[Mapping[str, Any]] | None) -> dict[str, Any]:
    """Template variables of a translation report (see the module docstring)."""
    details, run = report.get("details") or {}, report.get("run") or {}
    rows = _metric_rows(report)
    lengths, length_plot = _lengths(samples) if samples else (None, None)
    shown = list(samples or [])[:MAX_SAMPLES]
    training_plot = None
    if history and run:
        training_plot = plots.translation_training_svg(history, (run.get("training") or {}).get("best_epoch"))
    return {"metric_rows": rows, "kpis": rows, "bleu": details.get("bleu"), "bootstrap": details.get("bootstrap"),
            "samples": shown, "n_samples": len(samples or []), "lengths": lengths, "length_plot": length_plot,
            "has_sources": any(s.get("source") is not None for s in shown), "inputs": details.get("inputs"),
            "run_card": run_card(run, history, report.get("n", "?")) if run else None,
            "plots": {"training": training_plot}, "has_history": bool(history)}
