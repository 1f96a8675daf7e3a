"""Models built from :mod:`attnlab.nn` components."""

from attnlab.models.classifier import EncoderClassifier
from attnlab.models.outputs import ClassifierOutput

__all__ = ["ClassifierOutput", "EncoderClassifier"]
