"""GoogLeNet as TF-Slim's Inception v1 (`inception_v1_base` up to Mixed_5c), layer for
layer, so that TF-Slim's ImageNet checkpoint (inception_v1_2016_08_28) loads into it
(dvml_tf/models/slim_checkpoint.py).

This is the batch-norm Inception v1 that TensorFlow's model zoo and torchvision publish,
not the Caffe BVLC GoogLeNet the paper fine-tuned in Chainer. Against the paper's
(Szegedy et al. 2015): batch norm after every convolution (no scale, epsilon 0.001,
moving-average decay 0.9997) where the original has local response normalisation and
biases; 3x3 kernels in the branches the paper gives 5x5; a 2x2 max pool before Mixed_5b
where the paper has 3x3; no auxiliary classifiers. Every convolution and pool pads as
TensorFlow's SAME. Input: pixels scaled to [-1, 1] (backbones.py does it), as TF-Slim's
Inception preprocessing feeds them. Output: the 1,024 channels of Mixed_5c averaged over
space (at 224 px, TF-Slim's 7x7 average pool).

Each Keras layer's name is its TF-Slim scope with "/" written as "__", e.g.
Mixed_3b__Branch_1__Conv2d_0b_3x3 and Mixed_3b__Branch_1__Conv2d_0b_3x3__BatchNorm.
"""
from typing import Dict

import keras
from keras import layers

from dvml_tf.models.fused_batch_norm import FusedBatchNormalization

SCOPE_SEPARATOR = "__"
BATCH_NORM_EPSILON = 0.001
BATCH_NORM_DECAY = 0.9997
# (Branch_0 1x1, Branch_1 1x1, Branch_1 3x3, Branch_2 1x1, Branch_2 3x3, Branch_3 1x1)
# filters of each mixed block (the paper's Table 1, its "5x5" columns as 3x3).
MIXED_BLOCKS = {
    "Mixed_3b": (64, 96, 128, 16, 32, 32),
    "Mixed_3c": (128, 128, 192, 32, 96, 64),
    "Mixed_4b": (192, 96, 208, 16, 48, 64),
    "Mixed_4c": (160, 112, 224, 24, 64, 64),
    "Mixed_4d": (128, 128, 256, 24, 64, 64),
    "Mixed_4e": (112, 144, 288, 32, 64, 64),
    "Mixed_4f": (256, 160, 320, 32, 128, 128),
    "Mixed_5b": (256, 160, 320, 32, 128, 128),
    "Mixed_5c": (384, 192, 384, 48, 128, 128),
}
# TF-Slim names Mixed_5b's Branch_2 3x3 convolution Conv2d_0a_3x3 (0b everywhere else);
# the released checkpoint carries that name.
BRANCH_2_3X3 = {"Mixed_5b": "Conv2d_0a_3x3"}


def keras_name(scope: str) -> str:
    return scope.replace("/", SCOPE_SEPARATOR)


def slim_scope(name: str) -> str:
    return name.replace(SCOPE_SEPARATOR, "/")


def _conv(x, filters: int, kernel: int, scope: str, strides: int = 1):
    """TF-Slim's conv2d under inception_v1_arg_scope: no bias, batch norm, ReLU."""
    x = layers.Conv2D(filters, kernel, strides, padding="same", use_bias=False,
                      name=keras_name(scope))(x)
    x = FusedBatchNormalization(epsilon=BATCH_NORM_EPSILON, momentum=BATCH_NORM_DECAY,
                                scale=False, name=keras_name(f"{scope}/BatchNorm"))(x)
    return layers.ReLU(name=keras_name(f"{scope}/Relu"))(x)


def _max_pool(x, size: int, strides: int, scope: str):
    return layers.MaxPooling2D(size, strides, padding="same", name=keras_name(scope))(x)


def _mixed(x, block: str):
    b0, b1_reduce, b1, b2_reduce, b2, b3 = MIXED_BLOCKS[block]
    branch_0 = _conv(x, b0, 1, f"{block}/Branch_0/Conv2d_0a_1x1")
    branch_1 = _conv(x, b1_reduce, 1, f"{block}/Branch_1/Conv2d_0a_1x1")
    branch_1 = _conv(branch_1, b1, 3, f"{block}/Branch_1/Conv2d_0b_3x3")
    branch_2 = _conv(x, b2_reduce, 1, f"{block}/Branch_2/Conv2d_0a_1x1")
    branch_2 = _conv(branch_2, b2, 3,
                     f"{block}/Branch_2/{BRANCH_2_3X3.get(block, 'Conv2d_0b_3x3')}")
    branch_3 = _max_pool(x, 3, 1, f"{block}/Branch_3/MaxPool_0a_3x3")
    branch_3 = _conv(branch_3, b3, 1, f"{block}/Branch_3/Conv2d_0b_1x1")
    return layers.Concatenate(name=keras_name(f"{block}/concat"))(
        [branch_0, branch_1, branch_2, branch_3])


def googlenet_features(inputs):
    """Images scaled to [-1, 1] -> 1024-d pooled features (TF-Slim's inception_v1_base)."""
    x = _conv(inputs, 64, 7, "Conv2d_1a_7x7", strides=2)
    x = _max_pool(x, 3, 2, "MaxPool_2a_3x3")
    x = _conv(x, 64, 1, "Conv2d_2b_1x1")
    x = _conv(x, 192, 3, "Conv2d_2c_3x3")
    x = _max_pool(x, 3, 2, "MaxPool_3a_3x3")
    x = _mixed(_mixed(x, "Mixed_3b"), "Mixed_3c")
    x = _max_pool(x, 3, 2, "MaxPool_4a_3x3")
    for block in ("Mixed_4b", "Mixed_4c", "Mixed_4d", "Mixed_4e", "Mixed_4f"):
        x = _mixed(x, block)
    x = _max_pool(x, 2, 2, "MaxPool_5a_2x2")
    x = _mixed(_mixed(x, "Mixed_5b"), "Mixed_5c")
    return layers.GlobalAveragePooling2D(name="AvgPool_0a")(x)


def googlenet(image_size: int) -> keras.Model:
    inputs = keras.Input([image_size, image_size, 3], name="normalized_images")
    return keras.Model(inputs, googlenet_features(inputs), name="googlenet")


def slim_variables(model: keras.Model) -> Dict[str, object]:
    """{TF-Slim variable name: the Keras variable it fills} for every weight of `model`
    (a googlenet): InceptionV1/<scope>/weights for a convolution's kernel,
    .../BatchNorm/{beta,moving_mean,moving_variance} for its batch norm."""
    names = {}
    for layer in model.layers:
        scope = f"InceptionV1/{slim_scope(layer.name)}"
        if isinstance(layer, layers.Conv2D):
            names[f"{scope}/weights"] = layer.kernel
        elif isinstance(layer, layers.BatchNormalization):
            names[f"{scope}/beta"] = layer.beta
            names[f"{scope}/moving_mean"] = layer.moving_mean
            names[f"{scope}/moving_variance"] = layer.moving_variance
    return names
