"""Recipe: train an encoder–decoder translator and evaluate it on held-out data with sacreBLEU.

parallel data -> split (whole Bible books held out, else a seeded split grouping duplicate sources) -> BPE
subwords (training split only; shared or separate) -> Seq2SeqTransformer -> fit (teacher forcing, label
smoothing, early stopping on validation BLEU) -> beam search on the test split -> BLEU/chrF/TER with
signatures and bootstrap intervals -> translation findings and verdict -> run directory (config.json,
model.safetensors, tokenizer(s), history.jsonl, translations.csv, report.json, report.html), built in a
hidden folder and renamed into place only when complete.
"""

from __future__ import annotations

import contextlib
import platform
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import torch
from rich.console import Console
from rich.progress import Progress
from tokenizers import Tokenizer

from attnlab import __version__
from attnlab.config import TranslationRunConfig
from attnlab.data.parallel import ParallelTexts, default_held_out, pick_held_out_groups, read_parallel, split_parallel
from attnlab.data.subword import BOS_ID, EOS_ID, PAD_ID, UNK_ID, encode_pairs, load_bpe, save_bpe, train_bpe
from attnlab.diagnostics.translation_verdict import annotate_translation
from attnlab.errors import TrainingInterrupted
from attnlab.io import RunDirectory, append_jsonl, atomic_write_csv, atomic_write_json, atomic_write_jsonl
from attnlab.metrics import translation as tm
from attnlab.models.builders import build_translator
from attnlab.recipes.evaluate_translation import score_translations
from attnlab.recipes.train_classifier import make_progress, resolve_device
from attnlab.recipes.translate import Translations, translate_texts
from attnlab.train.checkpoint import SOURCE_TOKENIZER_FILE, TARGET_TOKENIZER_FILE, TOKENIZER_FILE, save_translator
from attnlab.train.distributed import DistContext, setup
from attnlab.train.loop import Checkpointer
from attnlab.train.resume import CHECKPOINT_FILE, load_checkpoint, run_fingerprint
from attnlab.train.seq2seq_loop import autocast_dtype, fit_seq2seq, teacher_forced_loss

TRANSLATIONS_FILE = "translations.csv"


def _tokenizers(cfg: TranslationRunConfig, train: ParallelTexts) -> tuple[Any, Any]:
    """BPE on the training split only: one shared vocabulary, or one per language."""
    if cfg.model.shared_vocab:
        tok = train_bpe(train.sources + train.targets, vocab_size=cfg.model.vocab_size)
        return tok, tok
    return (train_bpe(train.sources, vocab_size=cfg.model.vocab_size),
            train_bpe(train.targets, vocab_size=cfg.model.vocab_size))


def _decode(cfg: TranslationRunConfig, model, toks, texts: list[str], device, *, beam_size: int,
            ctx: DistContext) -> Translations:
    return translate_texts(model, toks[0], toks[1], texts, beam_size=beam_size, length_penalty=cfg.decode.length_penalty,
                           max_new_tokens=cfg.decode.max_new_tokens, batch_size=cfg.decode.batch_size, device=device,
                           precision=cfg.train.precision, ctx=ctx)


def _held_out(cfg: TranslationRunConfig, data: ParallelTexts) -> tuple[tuple[str, ...], tuple[str, ...]] | None:
    """The Bible's fixed held-out books; with --group-column, whole groups drawn with the seed; else None (random)."""
    if default_held_out(data) is not None or cfg.data.group_column is None:
        return default_held_out(data)
    return pick_held_out_groups(data, seed=cfg.train.seed, val_fraction=cfg.data.val_fraction,
                                test_fraction=cfg.data.test_fraction)


def _data_record(cfg: TranslationRunConfig, data: ParallelTexts, split, enc: dict, held_out) -> dict[str, Any]:
    return {"source": cfg.data.source, "n_pairs": len(data), "split": split.sizes(), "strategy": split.strategy,
            "held_out": None if held_out is None else {"val": list(held_out[0]), "test": list(held_out[1])},
            "split_fingerprint": split.fingerprint, "split_notes": list(split.notes),
            "truncated": {name: {"source": e.n_src_truncated, "target": e.n_tgt_truncated} for name, e in enc.items()}}


def _tokenizers_and_state(ctx: DistContext, cfg: TranslationRunConfig, run: RunDirectory | None,
                          train: ParallelTexts, fingerprint: str):
    """The run's BPE tokenizer(s) — trained and saved at once, or reloaded when resuming — and the checkpoint;
    made on rank 0 and sent to every rank."""
    names, toks, state = _tokenizer_files(cfg), None, None
    if ctx.is_main:
        if run.resumed and all((run.path / name).is_file() for name in names):
            toks = [load_bpe(run.path / name) for name in names]
            ckpt = run.path / CHECKPOINT_FILE
            state = load_checkpoint(ckpt, fingerprint=fingerprint) if ckpt.is_file() else None
        else:
            toks = list(_tokenizers(cfg, train))
            for tok, name in zip(toks, names):
                save_bpe(tok, run.path / name)
        atomic_write_jsonl(run.path / "history.jsonl", state.history if state else [])
    if ctx.enabled:
        texts = ctx.broadcast([tok.to_str() for tok in toks] if ctx.is_main else None)
        toks, state = [Tokenizer.from_str(text) for text in texts], ctx.broadcast(state)
    return (toks[0], toks[-1]), state


def _tokenizer_files(cfg: TranslationRunConfig) -> list[str]:
    return [TOKENIZER_FILE] if cfg.model.shared_vocab else [SOURCE_TOKENIZER_FILE, TARGET_TOKENIZER_FILE]


def train_translation(cfg: TranslationRunConfig, out_dir: str | Path, *, console: Console | None = None,
                      resume: bool = False) -> dict[str, Any] | None:
    """Run the whole recipe and return the report dictionary (also written as report.json).

    Checkpoints and ``resume`` work as in :func:`attnlab.recipes.train_classifier.train_classifier`. Under
    torchrun every rank runs this function (training, validation and test decoding are split between the
    ranks, see :func:`attnlab.train.seq2seq_loop.fit_seq2seq`); rank 0 writes the run directory and returns the
    report, the other ranks return ``None``.
    """
    console = console or Console(stderr=True)
    cfg.validate()
    t_start = time.perf_counter()
    ctx, device_name = setup(cfg.device)  # torchrun: join the process group; else a single process
    torch.manual_seed(cfg.train.seed)  # the same initial weights on every rank
    data = read_parallel(cfg.data.source, source_column=cfg.data.source_column, target_column=cfg.data.target_column,
                         target_path=cfg.data.target_file, group_column=cfg.data.group_column)
    held_out = _held_out(cfg, data)
    split = split_parallel(data, seed=cfg.train.seed, val_fraction=cfg.data.val_fraction,
                           test_fraction=cfg.data.test_fraction, held_out=held_out)
    parts = {name: data.subset(getattr(split, name)) for name in ("train", "val", "test")}
    fingerprint = run_fingerprint(cfg.to_dict(), split.fingerprint)
    run = RunDirectory(out_dir, resumable=True, resume=resume) if ctx.is_main else None
    with run if run is not None else contextlib.nullcontext():
        toks, state = _tokenizers_and_state(ctx, cfg, run, parts["train"], fingerprint)
        L = cfg.model.max_len
        enc = {name: encode_pairs(toks[0], p.sources, p.targets, max_src_len=L, max_tgt_len=L,
                                  target_tokenizer=toks[1]) for name, p in parts.items()}
        device = resolve_device(device_name)
        model = build_translator(cfg.model, src_vocab_size=toks[0].get_vocab_size(),
                                 tgt_vocab_size=toks[1].get_vocab_size(), pad_id=PAD_ID).to(device)
        result = _fit(run, ctx, cfg, console, model=model, toks=toks, enc=enc, parts=parts, state=state,
                      fingerprint=fingerprint, device=device)
        if run is not None:  # the finished run keeps the model, not the checkpoint
            (run.path / CHECKPOINT_FILE).unlink(missing_ok=True)
            save_translator(run.path, model, cfg, src_vocab_size=toks[0].get_vocab_size(),
                            tgt_vocab_size=toks[1].get_vocab_size(), tokenizer_files=_tokenizer_files(cfg),
                            special={"pad_id": PAD_ID, "unk_id": UNK_ID, "bos_id": BOS_ID, "eos_id": EOS_ID})
        out = _decode(cfg, model, toks, parts["test"].sources, device, beam_size=cfg.decode.beam_size, ctx=ctx)
        if run is None:  # other ranks trained and decoded their shares; only rank 0 writes
            ctx.barrier()
            return None
        report = _finish(run, ctx, cfg, t_start=t_start, data=data, split=split, parts=parts, enc=enc, out=out,
                         held_out=held_out, result=result, model=model, device=device)
    ctx.barrier()
    return report


def _fit(run: RunDirectory | None, ctx: DistContext, cfg: TranslationRunConfig, console: Console, *, model, toks,
         enc, parts, state, fingerprint: str, device):
    """Train with greedy validation BLEU every epoch (checkpointed; history and checkpoints on rank 0 only)."""
    dtype = autocast_dtype(cfg.train.precision, device)

    def validate(module: torch.nn.Module) -> dict[str, float]:  # greedy on validation: cheap enough every epoch
        loss = teacher_forced_loss(module, enc["val"], batch_tokens=cfg.train.batch_tokens, pad_id=PAD_ID,
                                   device=device, dtype=dtype, ctx=ctx)
        hyps = _decode(cfg, module, toks, parts["val"].sources, device, beam_size=1, ctx=ctx).hypotheses
        scores = tm.corpus_scores(hyps, [parts["val"].targets], metrics=("bleu", "chrf"), n_bootstrap=0)
        return {"loss": loss, "bleu": scores["bleu"]["score"], "chrf": scores["chrf"]["score"]}

    checkpoint = run.path / CHECKPOINT_FILE if run is not None else None  # other ranks never write

    def on_epoch(record: dict[str, Any]) -> None:
        if run is not None:
            append_jsonl(run.path / "history.jsonl", record)

    with make_progress(console) if run is not None else Progress(disable=True) as progress:
        try:
            return fit_seq2seq(model, enc["train"], cfg=cfg.train, validate=validate, on_epoch=on_epoch,
                               progress=progress, device=device, pad_id=PAD_ID, resume=state, ctx=ctx,
                               checkpointer=Checkpointer(checkpoint, fingerprint, cfg.train.checkpoint_every))
        except KeyboardInterrupt:
            if checkpoint is not None and checkpoint.is_file():
                raise TrainingInterrupted(f"the last checkpoint is in {checkpoint}; run the same command with "
                                          "--resume to continue from it") from None
            raise


def _finish(run: RunDirectory, ctx: DistContext, cfg: TranslationRunConfig, *, t_start: float, data, split, parts,
            enc, out: Translations, held_out, result, model, device) -> dict[str, Any]:
    """Rank 0: score the test translations, write translations.csv and the report, and commit the run."""
    test = parts["test"]
    report = score_translations(out.hypotheses, [test.targets], seed=cfg.train.seed)
    report["run"] = {
        "attnlab_version": __version__, "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "torch_version": torch.__version__, "python": platform.python_version(), "device": str(device),
        "processes": ctx.world_size,
        "precision": "bf16" if autocast_dtype(cfg.train.precision, device) is not None else "fp32",
        "config": cfg.to_dict(), "n_parameters": sum(p.numel() for p in model.parameters()),
        "data": _data_record(cfg, data, split, enc, held_out),
        "training": {"best_epoch": result.best_epoch, "epochs_run": len(result.history),
                     "stopped_early": result.stopped_early, "monitor": cfg.train.monitor,
                     "selected_on": "validation", "seconds": round(result.seconds, 2)},
        "decoding": {"beam_size": cfg.decode.beam_size, "length_penalty": cfg.decode.length_penalty,
                     "max_new_tokens": cfg.decode.max_new_tokens, "seconds": round(out.seconds, 2),
                     "sentences_per_second": round(out.sentences_per_second, 2),
                     "hit_max_length": int(sum(out.hit_max_length)),
                     "sources_truncated": out.n_source_truncated},
    }
    report["details"]["inputs"] = {"translations": TRANSLATIONS_FILE}
    annotate_translation(report, sources=test.sources, hypotheses=out.hypotheses, references=[test.targets],
                         train_sources=parts["train"].sources, train_targets=parts["train"].targets,
                         hit_max_length=out.hit_max_length, seed=cfg.train.seed)
    rows = ([int(i), s, r, h, int(c)] for i, s, r, h, c in
            zip(split.test, test.sources, test.targets, out.hypotheses, out.hit_max_length))
    atomic_write_csv(run.path / TRANSLATIONS_FILE, ["id", "source", "reference", "hypothesis", "hit_max_length"],
                     rows)
    report["run"]["seconds_total"] = round(time.perf_counter() - t_start, 2)
    atomic_write_json(run.path / "report.json", report)
    from attnlab.recipes.report import render_report

    render_report(run.path)
    run.commit()
    return report
