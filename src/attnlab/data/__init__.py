"""Data: readers for labelled texts, leakage-safe splits, WordPiece tokenizers and built-in datasets.

Nothing in this package imports torch. The tokenizer helpers (which import Hugging Face
``tokenizers``) load on first use.
"""

from attnlab.data.builtin import BUILTIN, BuiltinDataset, list_builtin, load_builtin
from attnlab.data.datasets import load_data
from attnlab.data.readers import (
    SUPPORTED_EXTENSIONS,
    LabelledTexts,
    canonical_label,
    check_trainable,
    order_labels,
    read_labelled_texts,
    read_table,
)
from attnlab.data.splits import Split, normalize_text, stratified_split

_TOKENIZER_NAMES = {"Encoded", "SpecialIds", "encode", "load_tokenizer", "save_tokenizer", "special_ids", "train_tokenizer"}

__all__ = [
    "BUILTIN", "BuiltinDataset", "Encoded", "LabelledTexts", "SUPPORTED_EXTENSIONS", "SpecialIds", "Split",
    "canonical_label", "check_trainable", "encode", "list_builtin", "load_builtin", "load_data",
    "load_tokenizer", "normalize_text", "order_labels", "read_labelled_texts", "read_table",
    "save_tokenizer", "special_ids", "stratified_split", "train_tokenizer",
]


def __getattr__(name: str):
    if name in _TOKENIZER_NAMES:
        from attnlab.data import tokenizers

        return getattr(tokenizers, name)
    raise AttributeError(f"module 'attnlab.data' has no attribute {name!r}")
