"""The training loop: length-grouped batches, AdamW with warmup/decay, clipping, early stopping on validation.

A plain function, not a Trainer class: the recipe calls :func:`fit` with the pieces it built.
"""

from __future__ import annotations

import copy
import math
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

import numpy as np
import torch
import torch.nn.functional as F

from attnlab.errors import InputError
from attnlab.train.distributed import SINGLE, DistContext, gather_rows, shard_indices
from attnlab.train.optim import build_optimizer, warmup_linear_decay
from attnlab.train.resume import TrainingState, save_checkpoint


@dataclass(frozen=True)
class TensorData:
    """A split encoded as padded arrays: ``input_ids``/``attention_mask`` (N, L), ``lengths`` (N,), ``labels`` (N,)."""

    input_ids: np.ndarray
    attention_mask: np.ndarray
    lengths: np.ndarray
    labels: np.ndarray

    def __len__(self) -> int:
        return len(self.lengths)


def batch_order(lengths: np.ndarray, batch_size: int, rng: np.random.Generator | None) -> list[np.ndarray]:
    """Index batches. With ``rng``: shuffled, and similar lengths grouped so batches carry little padding.

    Groups of 50 batches are sorted by length, cut into batches, and the batches shuffled (as Hugging Face's
    ``group_by_length``). Without ``rng``: batches in order of length, for fast deterministic inference.
    """
    if rng is None:
        order = np.argsort(lengths, kind="stable")
        return [order[i:i + batch_size] for i in range(0, len(order), batch_size)]
    order = rng.permutation(len(lengths))
    chunk = batch_size * 50
    batches = []
    for start in range(0, len(order), chunk):
        block = order[start:start + chunk]
        block = block[np.argsort(-lengths[block], kind="stable")]
        batches += [block[i:i + batch_size] for i in range(0, len(block), batch_size)]
    return [batches[i] for i in rng.permutation(len(batches))]


def to_batch(data: TensorData, idx: np.ndarray, device: torch.device) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Tensors for the rows ``idx``, trimmed to the longest row in the batch."""
    width = int(data.lengths[idx].max())
    ids = torch.from_numpy(data.input_ids[idx, :width]).to(device, non_blocking=True)  # (B, T)
    mask = torch.from_numpy(data.attention_mask[idx, :width].astype(bool)).to(device, non_blocking=True)  # (B, T)
    labels = torch.from_numpy(data.labels[idx]).to(device, non_blocking=True)  # (B,)
    return ids, mask, labels


@torch.no_grad()
def predict_logits(model: torch.nn.Module, data: TensorData, *, batch_size: int = 128,
                   device: torch.device | str = "cpu", ctx: DistContext = SINGLE,
                   precision: str = "auto") -> np.ndarray:
    """Logits (N, C) in the original row order, float32, in eval mode.

    ``precision`` is the autocast setting (:func:`attnlab.train.fast.classifier_autocast_dtype`: ``auto`` is bf16
    on CUDA, float32 on CPU).

    Under torch.distributed (``ctx``) each rank computes whole batches of the single-process batching (round
    robin) and the rows are gathered onto every rank: each example exactly once, in the same batch as in one
    process, so the logits equal the single-process ones.
    """
    from attnlab.train.fast import autocast, classifier_autocast_dtype

    model = getattr(model, "module", model)  # a DDP wrapper's model
    model.eval()
    device = torch.device(device)
    dtype = classifier_autocast_dtype(precision, device)
    assert len(data), "predict_logits needs at least one example"
    batches = batch_order(data.lengths, batch_size, None)
    mine = [batches[i] for i in shard_indices(len(batches), ctx)]
    index = np.concatenate(mine) if mine else np.empty(0, dtype=np.int64)
    values = np.empty((0, 0), dtype=np.float32)
    parts = []
    for idx in mine:
        ids, mask, _ = to_batch(data, idx, device)
        with autocast(device, dtype):
            logits = model(ids, mask).logits  # (B, C)
        parts.append(logits.float().cpu().numpy())
    if parts:
        values = np.concatenate(parts)
    return gather_rows(ctx, index, values, len(data))


@dataclass
class FitResult:
    history: list[dict[str, Any]] = field(default_factory=list)
    best_epoch: int = 0
    best_score: float = -math.inf
    stopped_early: bool = False
    seconds: float = 0.0


class EpochSelector:
    """Keeps the weights of the best validation epoch (score: higher is better) and decides early stopping.

    Shared by the classifier's and the translator's loops: each epoch's ``record`` gets ``best`` and goes
    to ``result.history`` and ``on_epoch``; :meth:`restore` puts the best weights back at the end.
    """

    def __init__(self, patience: int) -> None:
        self.patience, self.since_best, self.best_state = patience, 0, None

    def observe(self, model: torch.nn.Module, result: FitResult, record: dict[str, Any], score: float,
                on_epoch: Callable[[dict[str, Any]], None]) -> bool:
        """Record the epoch and keep its weights when ``score`` is the best so far; True = stop early."""
        improved = score > result.best_score
        record["best"] = improved
        result.history.append(record)
        on_epoch(record)
        if improved:
            result.best_epoch, result.best_score, self.since_best = record["epoch"], score, 0
            self.best_state = copy.deepcopy(model.state_dict())
            return False
        self.since_best += 1
        result.stopped_early = bool(self.patience and self.since_best >= self.patience)
        return result.stopped_early

    def restore(self, model: torch.nn.Module, ema: torch.nn.Module | None = None) -> None:
        """Load the best epoch's weights into ``model``; with no epoch kept, the last weight average (if any)."""
        if self.best_state is None and ema is not None:
            model.load_state_dict(ema.module.state_dict())
        if self.best_state is not None:
            model.load_state_dict(self.best_state)


def weight_average(model: torch.nn.Module, decay: float) -> torch.nn.Module | None:
    """The exponential moving average training keeps when ``decay`` > 0 (else ``None``): an eager copy,
    :class:`torch.optim.swa_utils.AveragedModel` with ``get_ema_multi_avg_fn``, to be updated after every
    optimizer step. Both training loops validate, keep and save its ``.module``."""
    if decay <= 0:
        return None
    from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

    return AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(decay))


@dataclass
class Checkpointer:
    """Where and how often :func:`fit` writes its resumable state (rank 0 only; atomic single-file writes).

    Attributes:
        path: The checkpoint file.
        fingerprint: :func:`~attnlab.train.resume.run_fingerprint` of the run (checked on resume).
        every: Also write every this many steps within an epoch (0: at epoch ends only).
    """

    path: Any
    fingerprint: str
    every: int = 0

    def save(self, *, epoch: int, step: int, epoch_rng: dict[str, Any], model: torch.nn.Module, optimizer: Any,
             scheduler: Any, result: FitResult, selector: EpochSelector, sums: dict[str, float],
             ema: torch.nn.Module | None = None) -> None:
        """Write the state; ``scheduler`` is an LR scheduler or a plain dict of schedule state; ``ema`` the
        weight average (:class:`torch.optim.swa_utils.AveragedModel`) when training keeps one."""
        state = TrainingState(
            epoch=epoch, step=step, epoch_rng=epoch_rng, sums=sums, history=result.history,
            best_epoch=result.best_epoch, best_score=result.best_score, since_best=selector.since_best,
            fingerprint=self.fingerprint, model=model.state_dict(), optimizer=optimizer.state_dict(),
            scheduler=scheduler.state_dict() if hasattr(scheduler, "state_dict") else dict(scheduler),
            best=selector.best_state, ema=None if ema is None else ema.state_dict(), rng_torch=torch.get_rng_state(),
            rng_cuda=torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [])
        save_checkpoint(self.path, state)


def restore_training_state(state: TrainingState, model: torch.nn.Module, optimizer: Any, scheduler: Any,
             rng: np.random.Generator, result: FitResult, selector: EpochSelector,
             ema: torch.nn.Module | None = None) -> None:
    """Put a checkpoint's weights, optimizer, schedule, RNGs, history, early-stopping state (and the weight
    average ``ema``) back."""
    model.load_state_dict(state.model)
    if ema is not None:
        if state.ema is None:
            raise InputError("the checkpoint holds no weight average but the run keeps one (--ema-decay); resume "
                             "with exactly the same flags as the interrupted run")
        ema.load_state_dict(state.ema)
    optimizer.load_state_dict(state.optimizer)
    if scheduler is not None:  # the translator's schedule is a function of the step: no scheduler object
        scheduler.load_state_dict(state.scheduler)
    rng.bit_generator.state = state.epoch_rng
    if state.rng_torch is not None:
        torch.set_rng_state(state.rng_torch)
    if state.rng_cuda and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state.rng_cuda)
    result.history = list(state.history)
    result.best_epoch, result.best_score = state.best_epoch, state.best_score
    selector.since_best = state.since_best
    selector.best_state = state.best


def fit(
    model: torch.nn.Module,
    train: TensorData,
    val: TensorData,
    *,
    train_cfg: Any,
    evaluate: Callable[[np.ndarray], dict[str, float]],
    on_epoch: Callable[[dict[str, Any]], None],
    progress: Any,
    device: torch.device,
    class_weights: torch.Tensor | None = None,
    ctx: DistContext = SINGLE,
    checkpointer: Checkpointer | None = None,
    resume: TrainingState | None = None,
) -> FitResult:
    """Train ``model`` and leave it holding the weights of the best validation epoch.

    ``evaluate(val_logits)`` returns validation metrics (keys like ``macro_f1``); the one named by
    ``train_cfg.monitor`` picks the best epoch (``val_loss`` is minimised). Early stopping after
    ``train_cfg.patience`` epochs without improvement (0 disables it). The test split is never seen here.

    Under torch.distributed (``ctx``, see :mod:`attnlab.train.distributed`) the model is wrapped in
    ``DistributedDataParallel``, each rank trains on its ``DistributedSampler`` shard (``batch_size`` per
    process), validation logits are gathered onto every rank, and ``on_epoch`` should write on rank 0 only.

    The fast path (:mod:`attnlab.train.fast`): ``train_cfg.precision`` sets autocast (``auto``: bf16 on CUDA,
    float32 on CPU) and ``train_cfg.compile`` compiles the model in place for training and inference.

    ``train_cfg.ema_decay`` > 0 keeps an exponential moving average of the weights
    (:class:`torch.optim.swa_utils.AveragedModel` with ``get_ema_multi_avg_fn``, updated after every optimizer
    step, as timm's ``ModelEmaV2``/Polyak averaging): validation scores the average, early stopping keeps the best
    average, and the model ends holding it.

    ``checkpointer`` writes a :class:`~attnlab.train.resume.TrainingState` at every epoch end and every
    ``checkpointer.every`` steps; ``resume`` (one such state) continues from it. On CPU in one process a resumed
    run takes exactly the steps an uninterrupted one takes (same batches, dropout masks, optimizer and schedule).
    """
    from attnlab.train.fast import autocast, classifier_autocast_dtype, compile_model

    cfg = train_cfg
    rng = np.random.default_rng(cfg.seed)
    dtype = classifier_autocast_dtype(cfg.precision, device)
    ema = weight_average(model, cfg.ema_decay)
    scored = model if ema is None else ema.module  # the weights validated, kept as best and saved
    if cfg.compile:
        compile_model(model, device)  # in place: DDP, the optimizer and state_dict see the plain model
    sampler = None
    if ctx.enabled:
        from torch.nn.parallel import DistributedDataParallel
        from torch.utils.data import DistributedSampler

        sampler = DistributedSampler(range(len(train)), num_replicas=ctx.world_size, rank=ctx.rank, shuffle=True,
                                     seed=cfg.seed, drop_last=False)  # pads to equal shards: same step count
        steps_per_epoch = math.ceil(sampler.num_samples / cfg.batch_size)
        trained = DistributedDataParallel(model, device_ids=None if device.type == "cpu" else [device])
    else:
        steps_per_epoch = math.ceil(len(train) / cfg.batch_size)
        trained = model
    optimizer = build_optimizer(model, lr=cfg.lr, weight_decay=cfg.weight_decay)
    total = steps_per_epoch * cfg.epochs
    scheduler = warmup_linear_decay(optimizer, total_steps=total, warmup_steps=int(cfg.warmup_ratio * total))
    weight = class_weights.to(device) if class_weights is not None else None
    result, selector, t0 = FitResult(), EpochSelector(cfg.patience), time.perf_counter()
    task = progress.add_task("train", total=total, loss=float("nan"), tps=0.0)
    first_epoch, skip, sums = 1, 0, {"loss_sum": 0.0, "n_seen": 0, "tokens": 0}
    if resume is not None:
        first_epoch, skip, sums = resume.epoch, resume.step, dict(resume.sums)
        restore_training_state(resume, model, optimizer, scheduler, rng, result, selector, ema)
        progress.update(task, completed=(first_epoch - 1) * steps_per_epoch + skip)

    def save(epoch: int, step: int, epoch_rng: dict[str, Any], loss_sum: float, n_seen: int, tokens: int) -> None:
        if checkpointer is not None and ctx.is_main:
            checkpointer.save(epoch=epoch, step=step, epoch_rng=epoch_rng, model=model, optimizer=optimizer,
                              scheduler=scheduler, result=result, selector=selector,
                              sums={"loss_sum": loss_sum, "n_seen": n_seen, "tokens": tokens}, ema=ema)

    for epoch in range(first_epoch, cfg.epochs + 1):
        trained.train()
        t_epoch, loss_sum, n_seen, tokens = time.perf_counter(), 0.0, 0, 0
        if skip:  # resuming inside this epoch: the running sums of the batches already done
            loss_sum, n_seen, tokens = sums["loss_sum"], int(sums["n_seen"]), int(sums["tokens"])
        epoch_rng = copy.deepcopy(rng.bit_generator.state)  # the batch order below is drawn from this state
        if sampler is None:
            batches = batch_order(train.lengths, cfg.batch_size, rng)
        else:
            sampler.set_epoch(epoch)
            shard = np.fromiter(iter(sampler), dtype=np.int64)
            batches = [shard[b] for b in batch_order(train.lengths[shard], cfg.batch_size, rng)]
        for step, idx in enumerate(batches, start=1):
            if step <= skip:
                continue
            ids, mask, labels = to_batch(train, idx, device)
            with autocast(device, dtype):
                logits = trained(ids, mask).logits  # (B, C)
            loss = F.cross_entropy(logits.float(), labels, weight=weight, label_smoothing=cfg.label_smoothing)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if cfg.grad_clip > 0:
                torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
            optimizer.step()
            scheduler.step()
            if ema is not None:
                ema.update_parameters(model)
            loss_sum += loss.item() * len(idx)
            n_seen += len(idx)
            tokens += int(train.lengths[idx].sum())
            tps = tokens / max(time.perf_counter() - t_epoch, 1e-9)
            progress.update(task, advance=1, loss=loss_sum / n_seen,
                            tps=tps, description=f"epoch {epoch}/{cfg.epochs}")
            if checkpointer is not None and checkpointer.every and step % checkpointer.every == 0 \
                    and step < len(batches):
                save(epoch, step, epoch_rng, loss_sum, n_seen, tokens)
        skip = 0
        train_seconds = time.perf_counter() - t_epoch
        if ctx.enabled:  # the epoch's loss and throughput over all ranks
            totals = torch.tensor([loss_sum, n_seen, tokens], dtype=torch.float64)
            torch.distributed.all_reduce(totals)
            loss_sum, n_seen, tokens = totals[0].item(), int(totals[1].item()), int(totals[2].item())
        val_logits = predict_logits(scored, val, device=device, ctx=ctx, precision=cfg.precision)
        val_loss = float(F.cross_entropy(torch.from_numpy(val_logits), torch.from_numpy(val.labels)))
        record = {"epoch": epoch, "train_loss": loss_sum / n_seen, "val_loss": val_loss,
                  **{f"val_{k}": v for k, v in evaluate(val_logits).items()},
                  "lr": scheduler.get_last_lr()[0], "seconds": round(time.perf_counter() - t_epoch, 3),
                  "train_tokens_per_s": round(tokens / train_seconds, 1)}
        score = -val_loss if cfg.monitor == "val_loss" else record[f"val_{cfg.monitor}"]
        score = -math.inf if score is None else score
        if selector.observe(scored, result, record, score, on_epoch):
            break
        save(epoch + 1, 0, rng.bit_generator.state, 0.0, 0, 0)  # the next epoch starts from here
    progress.update(task, completed=total)
    selector.restore(model, ema)
    result.seconds = time.perf_counter() - t0
    return result
