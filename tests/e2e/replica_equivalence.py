"""Prints JSON comparing three training steps on 2 mirrored CPU replicas with 1 replica.

Argument 2: a metric loss name, or "<name>+xbm" for it with a cross-batch memory.

Run as a script (the CPU must be split before TensorFlow starts). The backbone has no
batch normalisation, whose per-replica statistics would differ by design.
"""
import json
import sys

import numpy as np
import tensorflow as tf

sys.path.insert(0, sys.argv[1])
import keras

from dvml_tf.config_parts import ModelSettings  # noqa: E402
from dvml_tf.models.dvml import build_dvml_model  # noqa: E402
from dvml_tf.models.metric_loss_layer import MetricLossLayer  # noqa: E402
from dvml_tf.training.build import dvml_settings  # noqa: E402
from dvml_tf.training.distribution import split_cpu  # noqa: E402

split_cpu(2)
METRIC_LOSS, _, MEMORY = sys.argv[2].partition("+")


def make_model(strategy):
    keras.utils.set_random_seed(0)
    with strategy.scope():
        backbone = keras.Sequential([keras.Input([8, 8, 3]), keras.layers.Flatten(),
                                     keras.layers.Dense(32, activation="relu")])
        settings = dvml_settings(ModelSettings(num_samples=4, phase1_steps=0), seed=5)
        loss = MetricLossLayer(METRIC_LOSS, images_per_class=2, num_proxies=4, embedding_dim=8,
                               cross_batch_memory=12 if MEMORY else 0)
        model = build_dvml_model(backbone, 8, loss, settings, 16)
        optimizer = keras.optimizers.Adam(1e-2)
        optimizer.build(model.trainable_variables)
        model.compile(optimizer=optimizer, jit_compile=False)
    return model


rng = np.random.default_rng(0)
images = rng.uniform(0, 255, (8, 8, 8, 3)).astype(np.float32)
labels = np.repeat(np.arange(4), 2).astype(np.int32)  # replica 0: classes 0-1, 1: classes 2-3
# Three steps: the second and third pair the batch with the memory (which holds 12 of
# the 16 rows enqueued before the third).
dataset = tf.data.Dataset.from_tensors((images, labels)).repeat(3)
results = {}
for name, strategy in (("one", tf.distribute.get_strategy()),
                       ("two", tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"]))):
    model = make_model(strategy)
    history = model.fit(dataset, epochs=1, verbose=0)
    results[name] = {
        "replicas": strategy.num_replicas_in_sync,
        "logs": {k: float(v[0]) for k, v in history.history.items()},
        "weights": [v.numpy().tolist() for v in model.trainable_variables],
        "memory": [[r.numpy().tolist() for r in strategy.experimental_local_results(v)]
                   for v in model.metric_loss.non_trainable_weights],
    }
print(json.dumps(results))
