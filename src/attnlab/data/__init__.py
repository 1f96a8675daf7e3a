"""Data: readers for labelled texts, leakage-safe splits, WordPiece tokenizers and built-in datasets;
for translation, parallel texts (``parallel``) and BPE subword tokenizers (``subword``).

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
# Translation: parallel texts (imports the leakage key) and BPE subwords (imports tokenizers), loaded on first use.
_LAZY = {**{name: "parallel" for name in ("BIBLE_HELD_OUT", "ParallelSplit", "ParallelTexts", "default_held_out",
                                          "read_parallel", "split_parallel", "translation_datasets")},
         **{name: "subword" for name in ("EncodedBatch", "EncodedPairs", "decode_batch", "encode_batch",
                                         "encode_pairs", "load_bpe", "save_bpe", "train_bpe")}}

__all__ = [
    "BUILTIN", "BuiltinDataset", "Encoded", "LabelledTexts", "SUPPORTED_EXTENSIONS", "SpecialIds", "Split",
    "canonical_label", "check_trainable", "encode", "list_builtin", "load_builtin", "load_data",
    "load_tokenizer", "normalize_text", "order_labels", "read_labelled_texts", "read_table",
    "save_tokenizer", "special_ids", "stratified_split", "train_tokenizer", *sorted(_LAZY),
]


def __getattr__(name: str):
    if name in _TOKENIZER_NAMES:
        from attnlab.data import tokenizers

        return getattr(tokenizers, name)
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f"attnlab.data.{_LAZY[name]}"), name)
    raise AttributeError(f"module 'attnlab.data' has no attribute {name!r}")
