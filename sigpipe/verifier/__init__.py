"""Writer-independent signature verifier: networks, losses, PKFM sampling, training, inference.

Inference: ``Verifier.load("models/<name>")`` then ``embed_images(crops)`` -> ``(N, D)`` unit embeddings;
scores and decisions live in :mod:`sigpipe.verify`. Training: :func:`sigpipe.verifier.train.train` with a
:class:`~sigpipe.verifier.train.TrainConfig` (``sigpipe train verifier``).
"""

from sigpipe.verifier.infer import Verifier, to_input
from sigpipe.verifier.losses import LOSSES, build_loss
from sigpipe.verifier.nets import ARCHS, SigNet, TimmEmbedder, build_model
from sigpipe.verifier.sampler import PKFMSampler, parse_writers, split_writers

__all__ = ["ARCHS", "LOSSES", "PKFMSampler", "SigNet", "TimmEmbedder", "Verifier", "build_loss", "build_model",
           "parse_writers", "split_writers", "to_input"]
