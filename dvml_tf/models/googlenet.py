"""GoogLeNet (Inception v1, Szegedy et al. 2015) in the Keras functional API.

The paper's backbone: 1024-d global-average-pooled output. Batch normalisation takes
the place of the original local response normalisation so it trains from scratch.
"""
from dvml_tf.keras_api import keras, layers

# (1x1, 3x3 reduce, 3x3, 5x5 reduce, 5x5, pool projection) per inception block.
INCEPTION_BLOCKS = {
    "3a": (64, 96, 128, 16, 32, 32),
    "3b": (128, 128, 192, 32, 96, 64),
    "4a": (192, 96, 208, 16, 48, 64),
    "4b": (160, 112, 224, 24, 64, 64),
    "4c": (128, 128, 256, 24, 64, 64),
    "4d": (112, 144, 288, 32, 64, 64),
    "4e": (256, 160, 320, 32, 128, 128),
    "5a": (256, 160, 320, 32, 128, 128),
    "5b": (384, 192, 384, 48, 128, 128),
}


def _conv(x, filters, kernel, name, strides=1):
    x = layers.Conv2D(filters, kernel, strides, padding="same", use_bias=False, name=name)(x)
    x = layers.BatchNormalization(name=f"{name}_bn")(x)
    return layers.ReLU(name=f"{name}_relu")(x)


def _inception(x, name):
    c1, r3, c3, r5, c5, proj = INCEPTION_BLOCKS[name]
    branch1 = _conv(x, c1, 1, f"inception_{name}_1x1")
    branch3 = _conv(_conv(x, r3, 1, f"inception_{name}_3x3_reduce"), c3, 3, f"inception_{name}_3x3")
    branch5 = _conv(_conv(x, r5, 1, f"inception_{name}_5x5_reduce"), c5, 5, f"inception_{name}_5x5")
    pooled = layers.MaxPooling2D(3, 1, padding="same", name=f"inception_{name}_pool")(x)
    branch_pool = _conv(pooled, proj, 1, f"inception_{name}_pool_proj")
    return layers.Concatenate(name=f"inception_{name}_output")(
        [branch1, branch3, branch5, branch_pool]
    )


def googlenet_features(inputs):
    """Normalised image tensor -> 1024-d pooled features."""
    x = _conv(inputs, 64, 7, "conv1_7x7", strides=2)
    x = layers.MaxPooling2D(3, 2, padding="same", name="pool1")(x)
    x = _conv(x, 64, 1, "conv2_3x3_reduce")
    x = _conv(x, 192, 3, "conv2_3x3")
    x = layers.MaxPooling2D(3, 2, padding="same", name="pool2")(x)
    x = _inception(_inception(x, "3a"), "3b")
    x = layers.MaxPooling2D(3, 2, padding="same", name="pool3")(x)
    for name in ("4a", "4b", "4c", "4d", "4e"):
        x = _inception(x, name)
    x = layers.MaxPooling2D(3, 2, padding="same", name="pool4")(x)
    x = _inception(_inception(x, "5a"), "5b")
    return layers.GlobalAveragePooling2D(name="pool5")(x)


def googlenet(image_size: int) -> keras.Model:
    inputs = keras.Input([image_size, image_size, 3], name="normalized_images")
    return keras.Model(inputs, googlenet_features(inputs), name="googlenet")
