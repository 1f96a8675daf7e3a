"""sync_states: two gloo processes on CPU, each with its own shard, merge to the single-process result."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from attnlab.errors import InputError
from attnlab.metrics import ClassificationEvaluator, ScoreCurveState, classification_report, sync_states

WORKER = textwrap.dedent('''
    import json, sys
    import numpy as np
    import torch.distributed as dist
    import torch.multiprocessing as mp
    from attnlab.errors import InputError
    from attnlab.metrics import ClassificationEvaluator, ScoreCurveState, sync_states

    def work(rank, world, data_path, store, out_path):
        dist.init_process_group("gloo", init_method="file://" + store, rank=rank, world_size=world)
        d = np.load(data_path)
        cut = int(d["cut"])
        shard = slice(0, cut) if rank == 0 else slice(cut, None)  # shards of different sizes
        binary = ClassificationEvaluator(["ham", "spam"], positive_label="spam", proba=True)
        y, pred, score = d["y"][shard], d["pred"][shard], d["score"][shard]
        for lo in range(0, len(y), 997):  # several batches per rank
            binary.update(y[lo:lo + 997], pred[lo:lo + 997], proba=score[lo:lo + 997])
        multi = ClassificationEvaluator([0, 1, 2], proba=True, curve_bins=50)
        multi.update(d["my"][shard], d["mpred"][shard], proba=d["mproba"][shard])
        curve = ScoreCurveState()
        curve.update(d["y"][shard] == "spam", d["score"][shard])
        sync_states(binary)
        sync_states(multi)
        sync_states(curve)
        mismatch = None
        try:
            sync_states(ScoreCurveState(n_bins=10 + rank))
        except InputError as err:
            mismatch = str(err)
        result = {"binary": binary.compute(), "multi": multi.compute(), "mismatch": mismatch,
                  "curve": [a.tolist() for a in curve.roc_curve()]}
        with open(out_path + str(rank), "w") as fh:
            json.dump(result, fh)
        dist.destroy_process_group()

    if __name__ == "__main__":
        data_path, store, out_path = sys.argv[1:]
        mp.spawn(work, args=(2, data_path, store, out_path), nprocs=2)
''')


def test_two_gloo_processes_merge_to_the_single_process_result(tmp_path):
    rng = np.random.default_rng(11)
    n = 6_000
    y = rng.choice(["ham", "spam"], n, p=[0.6, 0.4])
    score = np.clip(rng.normal(0.35 + 0.3 * (y == "spam"), 0.2), 0, 1).astype(np.float32).round(3)
    pred = np.where(score >= 0.5, "spam", "ham")
    my = rng.integers(0, 3, n)
    mproba = rng.dirichlet(np.ones(3), n)
    mpred = mproba.argmax(1)
    np.savez(tmp_path / "data.npz", y=y, pred=pred, score=score, my=my, mpred=mpred, mproba=mproba, cut=2_345)
    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    proc = subprocess.run([sys.executable, str(script), str(tmp_path / "data.npz"), str(tmp_path / "store"),
                           str(tmp_path / "out")], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    ranks = [json.loads((tmp_path / f"out{r}").read_text()) for r in (0, 1)]

    expected_binary = classification_report(y, pred, labels=["ham", "spam"], proba=score, positive_label="spam")
    multi = ClassificationEvaluator([0, 1, 2], proba=True, curve_bins=50)
    multi.update(my, mpred, proba=mproba)
    curve = ScoreCurveState()
    curve.update(y == "spam", score)
    for result in ranks:  # rank 0 — and every other rank — holds the merged result
        assert result["binary"] == json.loads(json.dumps(expected_binary))
        assert result["multi"] == json.loads(json.dumps(multi.compute()))
        assert result["curve"] == [a.tolist() for a in curve.roc_curve()]
        assert "differently configured" in result["mismatch"]


def test_sync_states_needs_a_process_group():
    pytest.importorskip("torch")
    with pytest.raises(InputError, match="init_process_group"):
        sync_states(ScoreCurveState())
