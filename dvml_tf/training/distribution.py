"""tf.distribute strategies for --strategy, and who among the workers writes the outputs."""
import json
import os
from typing import Tuple

import tensorflow as tf

from dvml_tf.errors import UserError, first_line, flag

STRATEGIES = ("default", "mirrored", "multi_worker", "tpu")


def split_cpu(num_devices: int) -> None:
    """Splits the CPU into logical devices (mirrored training on a CPU-only machine).

    Must run before TensorFlow initialises its devices.
    """
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(
        cpu, [tf.config.LogicalDeviceConfiguration()] * num_devices)


def make_strategy(name: str, tpu_address: str = "") -> tf.distribute.Strategy:
    if name == "default":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        gpus = tf.config.list_logical_devices("GPU")
        devices = [d.name for d in gpus or tf.config.list_logical_devices("CPU")]
        return tf.distribute.MirroredStrategy(devices)
    if name == "multi_worker":
        if "TF_CONFIG" not in os.environ:
            raise UserError(f"{flag('strategy')}=multi_worker needs the TF_CONFIG environment "
                            "variable (see BUILD.md)")
        return tf.distribute.MultiWorkerMirroredStrategy()
    try:
        resolver = tf.distribute.cluster_resolver.TPUClusterResolver(tpu=tpu_address)
        tf.config.experimental_connect_to_cluster(resolver)
        tf.tpu.experimental.initialize_tpu_system(resolver)
    except (ValueError, tf.errors.OpError) as error:
        raise UserError(f"{flag('strategy')}=tpu: no TPU found ({first_line(error)})") from None
    return tf.distribute.TPUStrategy(resolver)


def worker_index() -> Tuple[int, int]:
    """(number of workers, this worker's index) from TF_CONFIG; (1, 0) without it."""
    config = json.loads(os.environ.get("TF_CONFIG", "{}"))
    cluster = config.get("cluster", {})
    workers = len(cluster.get("worker", [])) + len(cluster.get("chief", []))
    task = config.get("task", {})
    if not workers:
        return 1, 0
    offset = 1 if task.get("type") == "worker" and "chief" in cluster else 0
    return workers, task.get("index", 0) + offset


def is_chief() -> bool:
    """Only the chief writes checkpoints to --model_dir, logs, metrics and exports."""
    return worker_index()[1] == 0
