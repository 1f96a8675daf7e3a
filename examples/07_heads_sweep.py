"""4 vs 8 heads: does splitting the same width into more heads help? A sweep on real data.

``attnlab sweep DATA --heads 4,8`` trains one model per head count (same width ``d_model``, same data split,
same seed), scores each on the same test split and measures the compute: parameters (the same: more heads
split the same projections more finely), FLOPs per token, attention-weight elements (one T × T map per head:
twice as many with 8 heads), latency and throughput. The paired bootstrap test says whether the difference
in the key metric is larger than the test set's noise. The example runs the sweep on the embedded SMS-spam
data and reads ``sweep.json``.
"""

from __future__ import annotations

import json
import shutil
import sys

from _common import SMALL_MODEL, Example, attnlab, sms_subset


def main(argv: list[str] | None = None) -> None:
    ex = Example(__doc__, argv)
    data = sms_subset("sms.csv", 400 if ex.fast else None)
    model = [f for f in SMALL_MODEL if f not in ("--heads", "2")]  # the sweep sets the heads
    _, summary = attnlab("sweep", data, "--heads", "4,8", "--out", "sweep", *model,
                         "--epochs", 1 if ex.fast else 4, "--positive", "spam",
                         *(["--repeats", "1", "--bootstrap", "200"] if ex.fast else []))
    sweep = json.loads(open("sweep/sweep.json", encoding="utf-8").read())
    assert sorted(run["heads"] for run in sweep["runs"]) == [4, 8], sweep.keys()
    ex.md("`attnlab sweep sms.csv --heads 4,8 ...` prints:")
    ex.code(summary)
    for name in ("sweep.png",):
        shutil.copy(f"sweep/{name}", ex.out / name)
    ex.finish()


if __name__ == "__main__":
    main(sys.argv[1:])
