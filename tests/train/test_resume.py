"""Kill a training process with SIGKILL in the middle of an epoch, resume it, and get the uninterrupted run's
result: the same weights, history and test metrics (CPU, one process). Ctrl-C keeps the checkpoint and says where
it is; a damaged checkpoint or changed flags are refused."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from safetensors import safe_open
from safetensors.torch import load_file

from attnlab.cli import main
from attnlab.data.tokenizers import save_tokenizer, train_tokenizer

FIXTURE = Path(__file__).parents[1] / "fixtures" / "sms_small.csv"
FLAGS = ["--d-model", "32", "--heads", "2", "--layers", "1", "--d-ff", "64", "--epochs", "6", "--vocab-size", "600",
         "--max-len", "48", "--lr", "3e-3", "--batch-size", "16", "--checkpoint-every", "4", "--dropout", "0.1",
         "--patience", "0"]
TIMING = {"seconds", "train_tokens_per_s"}
ENV = {**os.environ, "OMP_NUM_THREADS": "1"}


def command(out, *extra):
    return [sys.executable, "-m", "attnlab", "train", str(FIXTURE), "--out", str(out), *FLAGS, *extra]


def checkpoint_position(partial):
    """(epoch, step) of the checkpoint in ``partial``, or None while there is none (or it is being replaced)."""
    path = partial / "checkpoint.safetensors"
    try:
        with safe_open(str(path), framework="pt") as fh:
            doc = json.loads(fh.metadata()["attnlab_state"])
    except Exception:
        return None
    return doc["epoch"], doc["step"]


def start_and_stop(out, sig, until, *extra):
    """Start training, wait until the checkpoint satisfies ``until(epoch, step)``, send ``sig``; return the process."""
    partial = out.parent / f".{out.name}.partial"
    # pytest-xdist workers ignore SIGINT and children inherit that: give the child the default disposition back
    proc = subprocess.Popen(command(out, *extra), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and proc.poll() is None:
        pos = checkpoint_position(partial)
        if pos is not None and until(*pos):
            proc.send_signal(sig)
            break
        time.sleep(0.01)
    proc.wait(timeout=120)
    return proc, partial


def history(run):
    rows = [json.loads(line) for line in (run / "history.jsonl").read_text(encoding="utf-8").splitlines()]
    return [{k: v for k, v in r.items() if k not in TIMING} for r in rows]


@pytest.fixture(scope="module", params=[(), ("--ema-decay", "0.9")], ids=["plain", "ema"])
def reference(request, tmp_path_factory):
    """An uninterrupted run; with ``--ema-decay`` the checkpoint also carries the weight average."""
    out = tmp_path_factory.mktemp("resume") / "uninterrupted"
    proc = subprocess.run(command(out, *request.param), capture_output=True, text=True, env=ENV, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return out, request.param


def test_sigkill_mid_epoch_then_resume_gives_the_same_run(reference, tmp_path):
    reference, extra = reference
    out = tmp_path / "killed"
    proc, partial = start_and_stop(out, signal.SIGKILL, lambda epoch, step: epoch >= 2 and step > 0, *extra)
    assert proc.returncode == -signal.SIGKILL, "the run finished before it could be killed mid-epoch"
    assert not out.exists() and partial.is_dir()
    epoch, step = checkpoint_position(partial)
    assert epoch >= 2 and step > 0  # a mid-epoch checkpoint after a whole epoch: position and history matter
    resumed = subprocess.run(command(out, *extra, "--resume"), capture_output=True, text=True, env=ENV, timeout=300)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert not partial.exists() and not (out / "checkpoint.safetensors").exists()
    a, b = load_file(str(reference / "model.safetensors")), load_file(str(out / "model.safetensors"))
    assert a.keys() == b.keys() and all(np.array_equal(a[k].numpy(), b[k].numpy()) for k in a)
    assert history(out) == history(reference)
    ra = json.loads((reference / "report.json").read_text(encoding="utf-8"))
    rb = json.loads((out / "report.json").read_text(encoding="utf-8"))
    assert json.dumps(rb["metrics"], sort_keys=True) == json.dumps(ra["metrics"], sort_keys=True)
    assert rb["intervals"] == ra["intervals"]


def test_ctrl_c_keeps_the_checkpoint_and_says_where_it_is(tmp_path):
    out = tmp_path / "interrupted"
    proc, partial = start_and_stop(out, signal.SIGINT, lambda epoch, step: True)  # at the first checkpoint
    err = proc.stderr.read()
    assert proc.returncode == 130, err[-2000:]
    last = err.strip().splitlines()[-1]
    assert last.startswith("attnlab: interrupted; the last checkpoint is in ") and "--resume" in last
    assert "Traceback" not in err and str(partial / "checkpoint.safetensors") in last
    assert not out.exists()

    code = main(["train", str(FIXTURE), "--out", str(out), *FLAGS])  # a fresh start would take the folder over
    assert code == 2 and partial.is_dir()
    code = main(["train", str(FIXTURE), "--out", str(out), *FLAGS[:-2], "--patience", "3", "--resume"])
    assert code == 2 and partial.is_dir()  # other flags: another run, refused
    assert main(["train", str(FIXTURE), "--out", str(out), *FLAGS, "--resume"]) == 0
    assert (out / "report.json").is_file() and not partial.exists()


def test_resume_refuses_nothing_to_resume_and_damaged_checkpoints(tmp_path, capsys):
    assert main(["train", str(FIXTURE), "--out", str(tmp_path / "none"), *FLAGS, "--resume"]) == 2
    assert "nothing to resume" in capsys.readouterr().err
    partial = tmp_path / ".damaged.partial"
    partial.mkdir()
    save_tokenizer(train_tokenizer(["free prize now", "see you soon"], vocab_size=60, min_frequency=1),
                   partial / "tokenizer.json")
    (partial / "checkpoint.safetensors").write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json")
    code = main(["train", str(FIXTURE), "--out", str(tmp_path / "damaged"), *FLAGS, "--resume"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "Traceback" not in err and "damaged" in err


@pytest.fixture(scope="module")
def pairs_tsv(tmp_path_factory):
    """200 pairs of the shipped sample as a TSV (src, tgt)."""
    import csv

    from attnlab.data.parallel import read_parallel

    sample = read_parallel("bible-en-de-sample")
    rows = sorted(np.random.default_rng(1).choice(len(sample), 200, replace=False).tolist())
    path = tmp_path_factory.mktemp("pairs") / "pairs.tsv"
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh, delimiter="\t", lineterminator="\n")
        writer.writerow(["src", "tgt"])
        writer.writerows((sample.sources[i], sample.targets[i]) for i in rows)
    return path


@pytest.mark.parametrize("extra", [(), ("--ema-decay", "0.8")], ids=["plain", "ema"])
def test_translation_sigkill_then_resume_gives_the_same_model(pairs_tsv, tmp_path, extra):
    flags = [*extra, "--task", "translate", "--epochs", "4", "--d-model", "32", "--heads", "2", "--layers", "1", "--d-ff", "64",
             "--vocab-size", "300", "--beam", "1", "--max-new-tokens", "16", "--batch-tokens", "600",
             "--precision", "fp32", "--checkpoint-every", "2", "--dropout", "0.1", "--patience", "0"]

    def cmd(out, *extra):
        return [sys.executable, "-m", "attnlab", "train", str(pairs_tsv), "--out", str(out), *flags, *extra]

    reference = tmp_path / "reference"
    done = subprocess.run(cmd(reference), capture_output=True, text=True, env=ENV, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    out = tmp_path / "killed"
    partial = tmp_path / ".killed.partial"
    proc = subprocess.Popen(cmd(out), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=ENV)
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and proc.poll() is None:
        pos = checkpoint_position(partial)
        if pos is not None and pos[0] >= 2 and pos[1] > 0:
            proc.kill()
            break
        time.sleep(0.01)
    proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL, "the run finished before it could be killed mid-epoch"
    resumed = subprocess.run(cmd(out, "--resume"), capture_output=True, text=True, env=ENV, timeout=300)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    a, b = load_file(str(reference / "model.safetensors")), load_file(str(out / "model.safetensors"))
    assert all(np.array_equal(a[k].numpy(), b[k].numpy()) for k in a)
    ra = json.loads((reference / "report.json").read_text(encoding="utf-8"))
    rb = json.loads((out / "report.json").read_text(encoding="utf-8"))
    assert rb["metrics"] == ra["metrics"]


def checkpoint_fingerprint(partial):
    """The fingerprint of the checkpoint in ``partial`` (an ensemble member's ends in ``/member-<m>``), or None."""
    try:
        with safe_open(str(partial / "checkpoint.safetensors"), framework="pt") as fh:
            return json.loads(fh.metadata()["attnlab_state"])["fingerprint"]
    except Exception:
        return None


def test_ensemble_sigkill_in_the_second_member_then_resume_gives_the_same_run(tmp_path):
    """Member 0 is kept as member-0.safetensors once finished; a kill inside member 1 resumes member 1 from its
    checkpoint; a kill between the two (the checkpoint still member 0's) trains member 1 afresh. Both give the
    uninterrupted ensemble exactly."""
    from attnlab.train.resume import load_checkpoint, save_checkpoint

    extra = ("--ensemble", "2", "--epochs", "3")
    reference = tmp_path / "reference"
    done = subprocess.run(command(reference, *extra), capture_output=True, text=True, env=ENV, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    out = tmp_path / "killed"
    partial = tmp_path / ".killed.partial"

    def in_member_one(epoch, step):
        fp = checkpoint_fingerprint(partial)
        return fp is not None and fp.endswith("/member-1") and epoch >= 2 and step > 0

    proc, _ = start_and_stop(out, signal.SIGKILL, in_member_one, *extra)
    assert proc.returncode == -signal.SIGKILL, "the run finished before it could be killed in member 1"
    assert (partial / "member-0.safetensors").is_file() and not (partial / "member-1.safetensors").exists()
    between = tmp_path / ".between.partial"  # the same folder as if killed right after member 0 was kept
    shutil.copytree(partial, between)
    fp = checkpoint_fingerprint(partial)
    state = load_checkpoint(partial / "checkpoint.safetensors", fingerprint=fp)
    state.fingerprint = fp.replace("/member-1", "/member-0")
    save_checkpoint(between / "checkpoint.safetensors", state)

    def same_as_reference(run):
        assert not [p.name for p in run.iterdir() if p.name.startswith(("member-", "checkpoint"))]
        a, b = load_file(str(reference / "model.safetensors")), load_file(str(run / "model.safetensors"))
        assert a.keys() == b.keys() and all(np.array_equal(a[k].numpy(), b[k].numpy()) for k in a)
        assert history(run) == history(reference)
        ra = json.loads((reference / "report.json").read_text(encoding="utf-8"))
        rb = json.loads((run / "report.json").read_text(encoding="utf-8"))
        assert rb["metrics"] == ra["metrics"]
        keep = ("members", "seeds", "best_epochs", "val_best", "test_accuracy")
        assert {k: rb["run"]["training"]["ensemble"][k] for k in keep} == \
            {k: ra["run"]["training"]["ensemble"][k] for k in keep}

    for run in (out, tmp_path / "between"):
        resumed = subprocess.run(command(run, *extra, "--resume"), capture_output=True, text=True, env=ENV,
                                 timeout=300)
        assert resumed.returncode == 0, resumed.stderr[-2000:]
        same_as_reference(run)


def test_resume_refuses_a_damaged_ensemble_member(tmp_path, capsys):
    partial = tmp_path / ".ens.partial"
    partial.mkdir()
    save_tokenizer(train_tokenizer(["free prize now", "see you soon"], vocab_size=60, min_frequency=1),
                   partial / "tokenizer.json")
    (partial / "member-0.safetensors").write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json")
    (partial / "checkpoint.safetensors").write_bytes(b"kept beside the members until the run is complete")
    code = main(["train", str(FIXTURE), "--out", str(tmp_path / "ens"), *FLAGS, "--ensemble", "2", "--resume"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "Traceback" not in err
    assert "the ensemble member" in err and "damaged" in err and "--resume" in err
    assert {"member-0.safetensors", "checkpoint.safetensors"} <= {p.name for p in partial.iterdir()}  # kept
