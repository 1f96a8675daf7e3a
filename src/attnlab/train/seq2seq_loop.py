"""Training loop of the translator: token-bucketed batches, teacher forcing, label smoothing, AdamW with warmup
and linear decay (over epochs, or over a wall-time budget), bf16 autocast where the CPU/GPU supports it, early
stopping on validation BLEU (or loss) with the best weights restored.
"""

from __future__ import annotations

import contextlib
import copy
import math
import time
from typing import Any, Callable

import numpy as np
import torch

from attnlab.data.subword import EncodedPairs
from attnlab.errors import InputError
from attnlab.models.seq2seq import seq2seq_loss
from attnlab.train.distributed import SINGLE, DistContext, all_sum, rank0_float, shard_indices
from attnlab.train.loop import Checkpointer, EpochSelector, FitResult, restore_training_state, weight_average
from attnlab.train.optim import build_optimizer
from attnlab.train.resume import TrainingState

__all__ = ["autocast_dtype", "compile_for_training", "pair_batch", "teacher_forced_loss", "fit_seq2seq",
           "token_batches"]


def token_batches(src_lengths: np.ndarray, tgt_lengths: np.ndarray, batch_tokens: int,
                  rng: np.random.Generator | None, *, group: int = 1) -> list[np.ndarray]:
    """Index batches of at most ``batch_tokens`` padded tokens on the longer side (fairseq's ``max_tokens``).

    With ``rng``: pairs are shuffled, sorted by length within blocks of ~100 batches (little padding), and the
    batches shuffled. Without: in order of length (deterministic evaluation). A pair longer than the budget
    gets a batch of its own.

    ``group`` > 1 (with ``rng``; the number of data-parallel processes) shuffles runs of ``group`` batches that
    were neighbours in length order instead of single batches, so batches ``k*group .. k*group + group - 1``
    — the ones the processes train on together in step ``k`` — have about the same lengths and cost, and no
    process waits for a longer batch at the gradient all-reduce. A last incomplete run goes to the end (the
    processes' equal shares leave it out). ``group=1`` is the plain shuffle.

    >>> [b.tolist() for b in token_batches(np.array([3, 9, 4, 8]), np.array([3, 9, 4, 8]), 18, None)]
    [[0, 2], [3, 1]]
    """
    lengths = np.maximum(src_lengths, tgt_lengths)
    if rng is None:
        blocks = [np.argsort(lengths, kind="stable")]
    else:
        order = rng.permutation(len(lengths))
        block = max(1, 100 * batch_tokens // max(1, int(lengths.mean()) if len(lengths) else 1))
        blocks = [b[np.argsort(lengths[b], kind="stable")] for b in np.array_split(order, math.ceil(len(order) / block))]
    batches: list[np.ndarray] = []
    for block in blocks:
        start, longest = 0, 0
        for i, idx in enumerate(block):
            longest_with = max(longest, int(lengths[idx]))
            if i > start and longest_with * (i - start + 1) > batch_tokens:
                batches.append(block[start:i])
                start, longest_with = i, int(lengths[idx])
            longest = longest_with
        if len(block) > start:
            batches.append(block[start:])
    if rng is not None:
        full = len(batches) - len(batches) % group
        runs = [batches[i:i + group] for i in range(0, full, group)]
        batches = [b for i in rng.permutation(len(runs)) for b in runs[i]] + batches[full:]
    return batches


def pair_batch(data: EncodedPairs, idx: np.ndarray, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """``(src (B, S), tgt (B, T))`` for rows ``idx``, trimmed to the longest row of the batch."""
    src = data.src_ids[idx, :int(data.src_lengths[idx].max())]
    tgt = data.tgt_ids[idx, :int(data.tgt_lengths[idx].max())]
    return torch.from_numpy(src).to(device), torch.from_numpy(tgt).to(device)


def autocast_dtype(precision: str, device: torch.device) -> torch.dtype | None:
    """The autocast dtype for ``precision`` on ``device`` (``None`` = float32).

    ``auto`` picks bfloat16 where the hardware has native support (CUDA bf16; CPUs with AVX512-BF16/AMX,
    through oneDNN), else float32. Master weights and the optimiser stay in float32 either way.
    """
    if precision == "fp32":
        return None
    if device.type == "cuda":
        supported = torch.cuda.is_bf16_supported()
    else:
        supported = bool(torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported())
    if precision == "bf16" or supported:
        return torch.bfloat16
    return None


def autocast(device: torch.device, dtype: torch.dtype | None):
    """An autocast context for ``dtype``, or a no-op context for float32."""
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=dtype)


@torch.no_grad()
def teacher_forced_loss(model: torch.nn.Module, data: EncodedPairs, *, batch_tokens: int, pad_id: int,
                        device: torch.device, dtype: torch.dtype | None = None, ctx: DistContext = SINGLE) -> float:
    """Mean per-token cross-entropy (no label smoothing) of the targets given the sources, in eval mode.

    Under torch.distributed (``ctx``) each rank computes whole batches of the single-process batching (round
    robin) and the sums are added over ranks: every rank returns the same value.
    """
    model.eval()
    total, count = 0.0, 0
    batches = token_batches(data.src_lengths, data.tgt_lengths, batch_tokens, None)
    for b in shard_indices(len(batches), ctx):
        src, tgt = pair_batch(data, batches[b], device)
        with autocast(device, dtype):
            logits = model(src, src != pad_id, tgt[:, :-1]).logits  # (B, T - 1, V)
        n = int((tgt[:, 1:] != pad_id).sum())
        total += float(seq2seq_loss(logits, tgt[:, 1:], pad_id=pad_id)) * n
        count += n
    total, count = all_sum(ctx, total, count)
    return total / max(count, 1)


def compile_for_training(module: torch.nn.Module, device: torch.device, *,
                         backend: str = "inductor") -> torch.nn.Module:
    """``torch.compile(module, dynamic=True)``: the callable the training steps use, or a clear refusal.

    A wrapper, not in place: the plain model (its ``state_dict`` keys, checkpoints, saved weights, the optimiser)
    is untouched, and validation and decoding (``model.encode``/``model.decode`` step by step) run eager.
    ``dynamic=True`` because token batches change both batch size and length: one compilation instead of a
    static one followed by a dynamic recompile. On this project's 2-core CPU the first steps take about
    85 s to compile mt-small, after which training ran 1.19x faster.

    Raises:
        InputError: ``torch.compile`` cannot work here (:func:`attnlab.train.fast.check_compile_available`).
    """
    from attnlab.train.fast import check_compile_available

    check_compile_available(device, backend)
    return torch.compile(module, dynamic=True, backend=backend)


def _lr_factor(step: int, cfg: Any, total_steps: int, elapsed: float) -> float:
    warm = (step + 1) / cfg.warmup_steps if cfg.warmup_steps and step < cfg.warmup_steps else 1.0
    if cfg.max_minutes > 0:
        decay = 1.0 - elapsed / (60.0 * cfg.max_minutes)
    else:
        decay = (total_steps - step) / max(1, total_steps - cfg.warmup_steps)
    return max(0.0, min(warm, decay))


def _epoch_share(batches: list[np.ndarray], ctx: DistContext) -> list[np.ndarray]:
    """This rank's batches of the epoch: every ``world``-th one, cut to the same count on every rank (so the
    ranks take the same number of steps; at most ``world - 1`` batches of the epoch are left out)."""
    if not ctx.enabled:
        return batches
    n = len(batches) // ctx.world_size
    if n == 0:
        raise InputError(f"the training split makes {len(batches)} batch(es) of --batch-tokens, fewer than the "
                         f"{ctx.world_size} processes; lower --batch-tokens or start fewer processes")
    return batches[ctx.rank::ctx.world_size][:n]


def fit_seq2seq(model: torch.nn.Module, train: EncodedPairs, *, cfg: Any,
                validate: Callable[[torch.nn.Module], dict[str, float]],
                on_epoch: Callable[[dict[str, Any]], None], progress: Any, device: torch.device,
                pad_id: int, checkpointer: Checkpointer | None = None,
                resume: TrainingState | None = None, ctx: DistContext = SINGLE) -> FitResult:
    """Train ``model`` and leave it holding the weights of the best validation epoch.

    ``validate(module)`` returns validation metrics of ``module`` including ``loss`` and ``bleu``; ``cfg.monitor``
    picks the best epoch (BLEU maximised, loss minimised). ``cfg.max_minutes`` > 0 stops after that wall time (the epoch in
    progress is cut and validated). The test split is never seen here. ``cfg.compile`` runs the training
    forward/backward through :func:`compile_for_training`.

    ``cfg.ema_decay`` > 0 keeps an exponential moving average of the weights (as the classifier's
    :func:`attnlab.train.loop.fit`: ``AveragedModel`` + ``get_ema_multi_avg_fn``, updated after every optimizer
    step): validation scores the average, the best average is kept, and the model ends holding it.

    ``checkpointer``/``resume`` as in :func:`attnlab.train.loop.fit`: a resumed run with an epoch schedule takes
    exactly the uninterrupted run's steps; under ``max_minutes`` it continues with the time that was left.

    Under torch.distributed (``ctx``) the model is wrapped in ``DistributedDataParallel``; every rank draws the
    same epoch batch list from the same seeded generator (shuffled in runs of ``world`` batches of neighbouring
    lengths, so the batches of one step cost about the same) and trains on every ``world``-th batch (cut to
    equal counts), so ``batch_tokens`` is per process and the global batch is ``batch_tokens`` x processes. The wall
    time (the budget and the learning rate that decays over it) is rank 0's clock, broadcast every step, so all
    ranks stop at the same step with the same learning rate. The epoch's loss and tokens/s in the history are
    sums over ranks; ``validate`` must return the same numbers on every rank (it decides early stopping).
    Pass the same ``checkpointer`` settings on every rank (saving sums the running loss over ranks, a
    collective); only rank 0 writes, so other ranks' ``checkpointer.path`` is not used. A run is resumed with
    the number of processes that wrote the checkpoint (checked), and restores rank 0's state (weights, optimiser, RNGs) on every rank: the state all ranks shared, except the torch RNG
    (dropout masks), which each rank had advanced by its own batches and which now continues from rank 0's.
    """
    rng = np.random.default_rng(cfg.seed)
    dtype = autocast_dtype(cfg.precision, device)
    steps_per_epoch = len(_epoch_share(token_batches(train.src_lengths, train.tgt_lengths, cfg.batch_tokens,
                                                     np.random.default_rng(0), group=ctx.world_size), ctx))
    total = steps_per_epoch * cfg.epochs
    ema = weight_average(model, cfg.ema_decay)
    scored = model if ema is None else ema.module  # the weights validated, kept as best and saved
    trained = model
    if ctx.enabled:
        from torch.nn.parallel import DistributedDataParallel

        trained = DistributedDataParallel(model, device_ids=None if device.type == "cpu" else [device])
    if cfg.compile:
        trained = compile_for_training(trained, device)
    optimizer = build_optimizer(model, lr=cfg.lr, weight_decay=cfg.weight_decay, betas=(0.9, 0.98))
    result, selector, step, t0 = FitResult(), EpochSelector(cfg.patience), 0, time.perf_counter()
    task = progress.add_task("train", total=total, loss=float("nan"), tps=0.0)
    first_epoch, skip, sums = 1, 0, {"loss_sum": 0.0, "n_tokens": 0}
    if resume is not None:
        if int(resume.scheduler.get("processes", 1)) != ctx.world_size:  # the batch shares depend on it
            raise InputError(f"the checkpoint was written by a run of {resume.scheduler.get('processes', 1)} "
                             f"process(es); resume it with the same number (this run has {ctx.world_size})")
        restore_training_state(resume, model, optimizer, None, rng, result, selector, ema)
        first_epoch, skip, sums = resume.epoch, resume.step, dict(resume.sums)
        step, t0 = int(resume.scheduler["step"]), t0 - float(resume.scheduler["elapsed"])  # the time already spent
        progress.update(task, completed=min(step, total))

    def save(epoch: int, batch: int, epoch_rng: dict[str, Any], loss_sum: float, n_tokens: int) -> None:
        if checkpointer is None:
            return
        loss_sum, n_tokens = all_sum(ctx, loss_sum, n_tokens)  # every rank joins; rank 0 writes the totals
        if ctx.is_main:
            checkpointer.save(epoch=epoch, step=batch, epoch_rng=epoch_rng, model=model, optimizer=optimizer,
                              scheduler={"step": step, "elapsed": time.perf_counter() - t0,
                                         "processes": ctx.world_size}, result=result,
                              selector=selector, sums={"loss_sum": loss_sum, "n_tokens": int(n_tokens)}, ema=ema)

    out_of_time = False
    for epoch in range(first_epoch, cfg.epochs + 1):
        trained.train()
        t_epoch, loss_sum, n_tokens = time.perf_counter(), 0.0, 0
        if skip and ctx.is_main:  # resuming inside this epoch: the totals so far (kept on rank 0 only)
            loss_sum, n_tokens = sums["loss_sum"], int(sums["n_tokens"])
        epoch_rng = copy.deepcopy(rng.bit_generator.state)
        batches = _epoch_share(token_batches(train.src_lengths, train.tgt_lengths, cfg.batch_tokens, rng,
                                             group=ctx.world_size), ctx)
        for batch, idx in enumerate(batches, start=1):
            if batch <= skip:
                continue
            elapsed = rank0_float(ctx, time.perf_counter() - t0)
            if cfg.max_minutes > 0 and elapsed > 60.0 * cfg.max_minutes:
                out_of_time = True
                break
            for group in optimizer.param_groups:
                group["lr"] = cfg.lr * _lr_factor(step, cfg, total, elapsed)
            src, tgt = pair_batch(train, idx, device)
            with autocast(device, dtype):
                logits = trained(src, src != pad_id, tgt[:, :-1]).logits  # (B, T - 1, V)
            loss = seq2seq_loss(logits, tgt[:, 1:], pad_id=pad_id, label_smoothing=cfg.label_smoothing)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if cfg.grad_clip > 0:
                torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
            optimizer.step()
            if ema is not None:
                ema.update_parameters(model)
            step += 1
            n = int((tgt[:, 1:] != pad_id).sum())
            loss_sum, n_tokens = loss_sum + loss.item() * n, n_tokens + n
            progress.update(task, advance=1, loss=loss_sum / n_tokens, description=f"epoch {epoch}/{cfg.epochs}",
                            tps=n_tokens / max(time.perf_counter() - t_epoch, 1e-9))
            if checkpointer is not None and checkpointer.every and batch % checkpointer.every == 0 \
                    and batch < len(batches):
                save(epoch, batch, epoch_rng, loss_sum, n_tokens)
        skip = 0
        loss_sum, n_tokens = all_sum(ctx, loss_sum, n_tokens)  # the epoch over all ranks
        if out_of_time and n_tokens == 0 and result.history:
            break  # the budget ran out at the end of the previous epoch: nothing new to validate or record
        train_seconds = time.perf_counter() - t_epoch
        metrics = validate(scored)
        record = {"epoch": epoch, "step": step, "train_loss": loss_sum / max(n_tokens, 1),
                  "val_loss": metrics["loss"], **{f"val_{k}": v for k, v in metrics.items() if k != "loss"},
                  "lr": optimizer.param_groups[0]["lr"], "seconds": round(time.perf_counter() - t_epoch, 3),
                  "elapsed_seconds": round(time.perf_counter() - t0, 2),
                  "train_target_tokens_per_s": round(n_tokens / max(train_seconds, 1e-9), 1)}
        score = -metrics["loss"] if cfg.monitor == "val_loss" else metrics[cfg.monitor]
        if selector.observe(scored, result, record, score, on_epoch) or out_of_time:
            break
        save(epoch + 1, 0, rng.bit_generator.state, 0.0, 0)
    progress.update(task, completed=total)
    selector.restore(model, ema)
    result.seconds = time.perf_counter() - t0
    return result
