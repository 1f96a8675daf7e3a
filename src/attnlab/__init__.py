"""attnlab: train, evaluate and inspect self-attention and multi-head attention models for NLP."""

__version__ = "0.1.0"
