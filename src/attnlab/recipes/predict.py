"""Recipe: classify new texts with a saved run."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from attnlab.data.tokenizers import encode
from attnlab.errors import InputError
from attnlab.train.checkpoint import LoadedClassifier, load_classifier
from attnlab.train.loop import TensorData, predict_logits


def predict_proba(loaded: LoadedClassifier, texts: list[str], *, batch_size: int = 128) -> np.ndarray:
    """Class probabilities (N, C), columns in ``loaded.labels`` order."""
    if not texts:
        raise InputError("no texts to classify; pass texts as arguments, --file FILE, or lines on stdin")
    enc = encode(loaded.tokenizer, texts, max_len=loaded.config.model.max_len)
    data = TensorData(enc.input_ids.astype(np.int64), enc.attention_mask.astype(np.uint8),
                      enc.lengths.astype(np.int64), np.zeros(len(texts), dtype=np.int64))
    device = next(loaded.model.parameters()).device
    logits = torch.from_numpy(predict_logits(loaded.model, data, batch_size=batch_size, device=device,
                                             precision=loaded.config.train.precision))
    return torch.softmax(logits.double(), dim=1).numpy()


def predict(run_dir: str | Path, texts: list[str]) -> tuple[list[str], np.ndarray]:
    """Labels predicted for ``texts`` and their probabilities, from the run in ``run_dir``."""
    loaded = load_classifier(run_dir)
    proba = predict_proba(loaded, texts)
    return loaded.labels, proba
