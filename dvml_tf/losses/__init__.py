"""DVML's four loss terms (Lin et al. 2018, Sec. 3.4), and the metric losses as classes.

variational.py: L1, the KL divergence (eq. 8), and L2, the reconstruction (eq. 9).
The metric losses Lm of L3 (on synthesized samples) and L4 (on z_I): one module each,
every one a registered, serializable Keras layer with named parameters (base.py), pair-
based ones on one pair view (pairs.py) and one reducer (reduction.py); metric.py names them
all and builds one from the command line's settings; cross_batch_memory.py is XBM.

    from dvml_tf.losses import MultiSimilarityLoss
    loss = MultiSimilarityLoss(alpha=2.0, beta=50.0, base=1.0, epsilon=0.1)
    loss.loss(embeddings, labels)  # or dvml_tf.MetricLoss(loss) in model.compile
"""
import importlib
from typing import TYPE_CHECKING

# Class -> its module; the classes load on first use (importing dvml_tf.losses loads no
# Keras).
_CLASSES = {
    "AngularLoss": "angular", "CircleLoss": "circle", "ContrastiveLoss": "contrastive",
    "LiftedStructLoss": "lifted", "MarginDWSLoss": "margin_dws",
    "MultiSimilarityLoss": "multi_similarity", "NPairsLoss": "npairs",
    "ProxyAnchorLoss": "proxy_anchor", "ProxyNCALoss": "proxy_nca",
    "TripletHardLoss": "triplet", "TripletSemihardLoss": "triplet",
    "BaseMetricLoss": "base", "PairLoss": "base",
}
__all__ = ["AngularLoss", "BaseMetricLoss", "CircleLoss", "ContrastiveLoss", "LiftedStructLoss",
           "MarginDWSLoss", "MultiSimilarityLoss", "NPairsLoss", "PairLoss", "ProxyAnchorLoss",
           "ProxyNCALoss", "TripletHardLoss", "TripletSemihardLoss"]  # = sorted(_CLASSES), tested

if TYPE_CHECKING:
    from dvml_tf.losses.angular import AngularLoss
    from dvml_tf.losses.base import BaseMetricLoss, PairLoss
    from dvml_tf.losses.circle import CircleLoss
    from dvml_tf.losses.contrastive import ContrastiveLoss
    from dvml_tf.losses.lifted import LiftedStructLoss
    from dvml_tf.losses.margin_dws import MarginDWSLoss
    from dvml_tf.losses.multi_similarity import MultiSimilarityLoss
    from dvml_tf.losses.npairs import NPairsLoss
    from dvml_tf.losses.proxy_anchor import ProxyAnchorLoss
    from dvml_tf.losses.proxy_nca import ProxyNCALoss
    from dvml_tf.losses.triplet import TripletHardLoss, TripletSemihardLoss


def __getattr__(name):
    if name not in _CLASSES:
        raise AttributeError(f"module 'dvml_tf.losses' has no attribute {name!r}")
    importlib.import_module("dvml_tf.losses.metric")  # every loss registered
    return getattr(importlib.import_module(f"dvml_tf.losses.{_CLASSES[name]}"), name)
