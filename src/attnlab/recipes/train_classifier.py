"""Recipe: train a Transformer encoder classifier and evaluate it on the held-out test split.

data -> split -> tokenizer (train split only) -> model -> fit (early stopping on validation) -> test
evaluation -> findings and readiness verdict (incl. exact/near-duplicate overlap between the splits and
overfitting from the history) -> run directory (config.json, model.safetensors, tokenizer.json,
history.jsonl, predictions.csv, report.json), built in a hidden folder and renamed into place only when
complete.

With ``model.ensemble`` = N > 1 the fit step trains N members in turn (member m from seed ``seed + m``, each with
its own early stopping and checkpoints; a finished member is kept in the folder until the run is complete, so
``--resume`` skips it) and the test probabilities are the mean of the members'.
"""

from __future__ import annotations

import contextlib
import dataclasses
import platform
import time
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import torch
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from tokenizers import Tokenizer

from attnlab import __version__
from attnlab.config import RunConfig
from attnlab.baselines import baseline_findings, compare_with_baselines
from attnlab.data.builtin import BUILTIN
from attnlab.data.catalog import CATALOG, describe
from attnlab.data.tokenizers import encode, load_tokenizer, save_tokenizer, train_tokenizer
from attnlab.diagnostics import annotate, conflict_findings, label_conflicts, splits_overlap
from attnlab.errors import InputError, TrainingInterrupted
from attnlab.io import RunDirectory, append_jsonl, atomic_write_csv, atomic_write_json, atomic_write_jsonl
from attnlab.metrics.summary import classification_report
from attnlab.recipes.evaluate import score_predictions
from attnlab.recipes.run_data import split_for_config
from attnlab.models.builders import build_classifier
from attnlab.train.checkpoint import TOKENIZER_FILE, save_classifier
from attnlab.train.distributed import setup
from attnlab.train.loop import Checkpointer, FitResult, TensorData, fit, predict_logits
from attnlab.train.resume import (CHECKPOINT_FILE, TrainingState, load_checkpoint, load_member, member_file,
                                  run_fingerprint, save_member)


def choose_positive_label(cfg: RunConfig, label_names: list[str], train_labels: list[str]) -> tuple[str | None, str]:
    """The positive class for binary metrics, and where the choice came from (recorded in the report)."""
    if cfg.data.positive_label is not None:
        if cfg.data.positive_label not in label_names:
            raise InputError(f"--positive {cfg.data.positive_label!r} is not a label of the data; "
                             f"labels are: {', '.join(label_names)}")
        return cfg.data.positive_label, "given"
    if len(label_names) != 2:
        return None, "multiclass: no positive class"
    builtin = BUILTIN.get(cfg.data.source) or CATALOG.get(cfg.data.source)
    if builtin is not None and builtin.positive_label:
        return builtin.positive_label, "built-in dataset"
    if set(label_names) == {"0", "1"}:
        return "1", "label 1 of a 0/1 task"
    counts = Counter(train_labels)
    return min(label_names, key=lambda lab: (counts[lab], lab)), "minority class of the training split"


def encode_split(tokenizer, texts: list[str], label_idx: np.ndarray, max_len: int) -> tuple[TensorData, int]:
    enc = encode(tokenizer, texts, max_len=max_len)
    data = TensorData(enc.input_ids.astype(np.int64), enc.attention_mask.astype(np.uint8),
                      enc.lengths.astype(np.int64), label_idx.astype(np.int64))
    return data, int(enc.n_truncated)


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def make_progress(console: Console) -> Progress:
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TextColumn("loss {task.fields[loss]:.4f}"), TextColumn("{task.fields[tps]:,.0f} tok/s"),
                    TimeElapsedColumn(), console=console, transient=False)


def member_fingerprint(fingerprint: str, member: int, n_members: int) -> str:
    """The checkpoint fingerprint of ensemble member ``member`` (the run's own for a single model)."""
    return fingerprint if n_members == 1 else f"{fingerprint}/member-{member}"


def _resume_state(run: RunDirectory, fingerprint: str, n_members: int) -> tuple[TrainingState | None, list]:
    """On resume: the finished ensemble members ``[(weights, FitResult), ...]`` and the checkpoint of the member in
    progress (``None`` when it had not written one yet, or the checkpoint is the last finished member's)."""
    finished = []
    while n_members > 1 and len(finished) < n_members and member_file(run.path, len(finished)).is_file():
        finished.append(load_member(member_file(run.path, len(finished)),
                                    fingerprint=member_fingerprint(fingerprint, len(finished), n_members)))
    ckpt_path, m = run.path / CHECKPOINT_FILE, len(finished)
    if not ckpt_path.is_file():
        return None, finished
    if m < n_members:
        try:
            return load_checkpoint(ckpt_path, fingerprint=member_fingerprint(fingerprint, m, n_members)), finished
        except InputError:
            if m == 0:
                raise
    # the checkpoint is the last finished member's (killed before member m wrote one, or after every member
    # finished): nothing to continue inside a member; checked, so another run's checkpoint is still refused
    load_checkpoint(ckpt_path, fingerprint=member_fingerprint(fingerprint, m - 1, n_members))
    return None, finished


def _tokenizer_and_state(ctx: Any, run: RunDirectory | None, cfg: RunConfig, train_texts: list[str],
                         fingerprint: str) -> tuple[Tokenizer, TrainingState | None, list]:
    """The run's tokenizer (trained on rank 0 and saved at once, or reloaded when resuming), the checkpoint to
    resume from and the ensemble members already finished; rank 0's on every rank."""
    tokenizer, state, finished = None, None, []
    if ctx.is_main:
        tok_path = run.path / TOKENIZER_FILE
        if run.resumed and tok_path.is_file():
            tokenizer = load_tokenizer(tok_path)
            state, finished = _resume_state(run, fingerprint, cfg.model.ensemble)
        else:
            tokenizer = train_tokenizer(train_texts, vocab_size=cfg.model.vocab_size)
            save_tokenizer(tokenizer, tok_path)
        history = run.path / "history.jsonl"  # the checkpoint's history is the truth (a kill may follow an append)
        atomic_write_jsonl(history, [rec for _, done in finished for rec in done.history] +
                           (state.history if state else []))
    if ctx.enabled:
        tokenizer = Tokenizer.from_str(ctx.broadcast(tokenizer.to_str() if ctx.is_main else None))
        state, finished = ctx.broadcast((state, finished))
    return tokenizer, state, finished


def train_classifier(cfg: RunConfig, out_dir: str | Path, *, console: Console | None = None,
                     resume: bool = False) -> dict[str, Any] | None:
    """Run the whole recipe and return the report dictionary (also written as report.json).

    The run is built in ``.NAME.partial`` beside ``out_dir`` with a checkpoint written at every epoch end and
    every ``cfg.train.checkpoint_every`` steps; ``resume=True`` continues a run that was killed or interrupted
    from its last checkpoint (on CPU, to the same result as an uninterrupted run).

    Under torchrun every rank runs this function; rank 0 writes the run directory and returns the report, the
    other ranks return ``None`` (see :mod:`attnlab.train.distributed`).
    """
    console = console or Console(stderr=True)
    cfg.validate()
    t_start = time.perf_counter()
    ctx, device_name = setup(cfg.device)  # torchrun: join the process group; else a single process
    torch.manual_seed(cfg.train.seed)  # the same initial weights on every rank
    cut = split_for_config(cfg)
    data, split, texts = cut.data, cut.split, cut.texts
    labels = list(data.label_names)
    index = {lab: i for i, lab in enumerate(labels)}
    label_idx = np.array([index[lab] for lab in data.labels], dtype=np.int64)
    positive, positive_source = choose_positive_label(cfg, labels, [data.labels[i] for i in split.train])
    fingerprint = run_fingerprint(cfg.to_dict(), split.fingerprint)
    run = RunDirectory(out_dir, resumable=True, resume=resume) if ctx.is_main else None
    with run if run is not None else contextlib.nullcontext():
        tokenizer, state, finished = _tokenizer_and_state(ctx, run, cfg, texts["train"], fingerprint)
        enc, truncated = {}, {}
        for name in ("train", "val", "test"):
            enc[name], truncated[name] = encode_split(tokenizer, texts[name], label_idx[getattr(split, name)],
                                                      cfg.model.max_len)
        vocab_size, pad_id = tokenizer.get_vocab_size(), tokenizer.token_to_id("[PAD]")
        device = resolve_device(device_name)
        model = build_classifier(cfg.model, n_classes=len(labels), vocab_size=vocab_size, pad_id=pad_id).to(device)
        class_weights = None
        if cfg.train.class_weights == "balanced":
            counts = np.bincount(enc["train"].labels, minlength=len(labels)).clip(min=1)
            class_weights = torch.tensor(len(enc["train"]) / (len(labels) * counts), dtype=torch.float32)

        def val_metrics(logits: np.ndarray) -> dict[str, float]:
            rep = classification_report(enc["val"].labels, logits.argmax(1), labels=list(range(len(labels))))
            m = rep["metrics"]
            return {"accuracy": m["accuracy"], "macro_f1": m["macro"]["f1"], "mcc": m["mcc"],
                    "balanced_accuracy": m["balanced_accuracy"]}

        def train_and_test(on_epoch, progress) -> tuple[list[FitResult], list[np.ndarray]]:
            """Train the model (each ensemble member in turn) and return the fit results and test logits."""
            n = cfg.model.ensemble
            members = list(model.members) if n > 1 else [model]
            results, test_logits = [], []
            for m, member in enumerate(members):
                if m < len(finished):  # kept by the interrupted run
                    weights, result = finished[m]
                    member.load_state_dict(weights)
                    results.append(result)
                else:
                    results.append(_train_member(m, member, on_epoch, progress, resume=state if m == len(finished)
                                                 else None))
                test_logits.append(predict_logits(member, enc["test"], device=device, ctx=ctx,  # every row once
                                                  precision=cfg.train.precision))
            return results, test_logits

        def _train_member(m: int, member: torch.nn.Module, on_epoch, progress, *, resume) -> FitResult:
            n = cfg.model.ensemble
            member_fp = member_fingerprint(fingerprint, m, n)
            checkpointer = None if run is None else Checkpointer(run.path / CHECKPOINT_FILE, member_fp,
                                                                 cfg.train.checkpoint_every)
            train_cfg = cfg.train
            if n > 1:  # member m: its own seed for the initial dropout stream and the batch order
                train_cfg = dataclasses.replace(cfg.train, seed=cfg.train.seed + m)
                torch.manual_seed(train_cfg.seed)

            def tagged(record: dict[str, Any]) -> None:
                if n > 1:
                    record["member"] = m
                on_epoch(record)

            try:
                result = fit(member, enc["train"], enc["val"], train_cfg=train_cfg, evaluate=val_metrics,
                             on_epoch=tagged, progress=progress, device=device, class_weights=class_weights,
                             ctx=ctx, checkpointer=checkpointer, resume=resume)
            except KeyboardInterrupt:
                if run is not None and (run.path / CHECKPOINT_FILE).is_file():
                    raise TrainingInterrupted(
                        f"the last checkpoint is in {run.path / CHECKPOINT_FILE}; run the same command with "
                        "--resume to continue from it") from None
                raise
            if n > 1 and run is not None:  # kept until the run is complete: a resumed run skips this member
                save_member(member_file(run.path, m), member.state_dict(), result, fingerprint=member_fp)
            return result

        if run is None:  # other ranks train and evaluate their shards; only rank 0 writes
            with Progress(disable=True) as progress:
                train_and_test(lambda record: None, progress)
            ctx.barrier()
            return None
        return _finish(run, ctx, cfg, console, train_and_test, t_start=t_start, data=data, split=split, texts=texts,
                       enc=enc, truncated=truncated, labels=labels, positive=positive,
                       positive_source=positive_source, model=model, tokenizer=tokenizer, device=device)


def _ensemble_record(cfg: RunConfig, results: list[FitResult], test_logits: list[np.ndarray], y: np.ndarray, *,
                     n_classes: int) -> dict[str, Any]:
    """Each member's seed, best epoch, validation score and own test scores (the spread the average removes)."""
    test = [classification_report(y, z.argmax(1), labels=list(range(n_classes)))["metrics"] for z in test_logits]
    return {"members": len(results), "combine": "mean of probabilities",
            "seeds": [cfg.train.seed + m for m in range(len(results))],
            "best_epochs": [r.best_epoch for r in results],
            "monitor": cfg.train.monitor,  # each member's best validation value of it
            "val_best": [None if not np.isfinite(r.best_score) else
                         float(-r.best_score if cfg.train.monitor == "val_loss" else r.best_score) for r in results],
            "seconds": [round(r.seconds, 2) for r in results],
            "test_accuracy": [float(t["accuracy"]) for t in test],
            "test_macro_f1": [float(t["macro"]["f1"]) for t in test]}


def _finish(run: RunDirectory, ctx: Any, cfg: RunConfig, console: Console, train_and_test, *, t_start: float,
            data: Any, split: Any, texts: dict, enc: dict, truncated: dict, labels: list[str], positive: str | None,
            positive_source: str, model: torch.nn.Module, tokenizer: Tokenizer, device: torch.device
            ) -> dict[str, Any]:
    """Rank 0: train, then write the model, predictions, report (baselines, findings, verdict) and commit."""
    history_path = run.path / "history.jsonl"

    def on_epoch(record: dict[str, Any]) -> None:
        append_jsonl(history_path, record)

    with make_progress(console) as progress:
        results, test_logits = train_and_test(on_epoch, progress)
    result = results[0]  # an ensemble's training record, curves and findings are its first member's
    (run.path / CHECKPOINT_FILE).unlink(missing_ok=True)  # the finished run keeps the model, not the checkpoint
    save_classifier(run.path, model, cfg, labels=labels, positive_label=positive,
                    vocab_size=tokenizer.get_vocab_size(), pad_id=tokenizer.token_to_id("[PAD]"))
    for m in range(len(results)):
        member_file(run.path, m).unlink(missing_ok=True)  # now inside model.safetensors
    # the mean of the members' probabilities (one member: its softmax), in float64
    proba = np.mean([torch.softmax(torch.from_numpy(z).double(), dim=1).numpy() for z in test_logits], axis=0)
    y_true = [labels[i] for i in enc["test"].labels]
    y_pred = [labels[i] for i in proba.argmax(1)]
    report = score_predictions(y_true, y_pred, labels=labels, proba=proba, positive_label=positive,
                               seed=cfg.train.seed)
    report["baselines"] = compare_with_baselines(  # same train/val/test split as the attention model
        texts["train"], [data.labels[i] for i in split.train], texts["val"], [data.labels[i] for i in split.val],
        texts["test"], y_true, y_pred, labels=labels, positive_label=positive, seed=cfg.train.seed)
    report["run"] = {
        "attnlab_version": __version__, "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "torch_version": torch.__version__, "python": platform.python_version(), "device": str(device),
        "processes": ctx.world_size,
        "config": cfg.to_dict(), "positive_label_source": positive_source,
        "data": {"source": cfg.data.source, "n_rows": len(data.texts), "n_train": len(split.train),
                 "n_val": len(split.val), "n_test": len(split.test),
                 "duplicate_rows": split.n_duplicate_texts, "duplicate_groups": split.n_duplicate_groups,
                 "duplicates_grouped_by": "nfkc|casefold|punctuation:removed|whitespace:collapsed",
                 "split_fingerprint": split.fingerprint, "truncated": truncated,
                 "label_counts": {name: dict(Counter(data.labels[i] for i in getattr(split, name)))
                                  for name in ("train", "val", "test")},
                 "dataset": describe(cfg.data.source), "split_notes": list(split.notes)},
        "training": {"best_epoch": result.best_epoch, "epochs_run": len(result.history),
                     "stopped_early": result.stopped_early, "monitor": cfg.train.monitor,
                     "selected_on": "validation", "seconds": round(sum(r.seconds for r in results), 2)},
    }
    if len(results) > 1:
        report["run"]["training"]["ensemble"] = _ensemble_record(cfg, results, test_logits, enc["test"].labels,
                                                                 n_classes=len(labels))
    # Exact duplicates (by the leakage key) were grouped into one split; near-duplicates can still
    # straddle splits, and an official test split cannot be regrouped. Label conflicts: whole data set.
    overlap = splits_overlap({"train": texts["train"], "validation": texts["val"], "test": texts["test"]},
                             seed=cfg.train.seed)
    annotate(report, history=result.history, overlap=overlap,
             extra=[*conflict_findings(label_conflicts(data.texts, data.labels), "the data set"),
                    *baseline_findings(report)])
    header = ["id", "text", "label", "prediction"] + [f"p_{lab}" for lab in labels]
    rows = ([int(i), texts["test"][k], y_true[k], y_pred[k], *(f"{p:.6g}" for p in proba[k])]
            for k, i in enumerate(split.test))
    atomic_write_csv(run.path / "predictions.csv", header, rows)
    report["run"]["seconds_total"] = round(time.perf_counter() - t_start, 2)
    atomic_write_json(run.path / "report.json", report)
    from attnlab.recipes.report import render_report

    render_report(run.path)  # report.html from the files just written, exactly as `attnlab report` does
    run.commit()
    ctx.barrier()
    return report
