"""A backbone cut at one layer of its feature extractor (--fine_tune_from): the part below,
frozen, and the part from that layer on, which trains. Both share the backbone's layers, so
the backbone itself (evaluation, export, checkpoints) computes what the two parts do."""
from typing import NamedTuple

import keras

from dvml_tf.errors import UserError, flag


class SplitBackbone(NamedTuple):
    below: keras.Model  # images [B, S, S, 3] in [0, 255] -> the layer's input
    top: keras.Model  # the layer's input -> features [B, F]


def _feature_extractor(backbone: keras.Model) -> keras.Model:
    """The model inside build_backbone's (normalisation, then the feature extractor)."""
    inner = [layer for layer in backbone.layers if isinstance(layer, keras.Model)]
    if len(inner) != 1:
        raise UserError(f"{flag('fine_tune_from')}: the backbone {backbone.name} has no feature "
                        "extractor of its own to cut")
    return inner[0]


def split_backbone(backbone: keras.Model, layer_name: str) -> SplitBackbone:
    """Cuts `backbone` at the input of its feature extractor's layer `layer_name`, freezes
    the layers below (batch norm in inference mode) and returns both parts."""
    extractor = _feature_extractor(backbone)
    names = [layer.name for layer in extractor.layers]
    if layer_name not in names:
        raise UserError(f"{flag('fine_tune_from')}={layer_name}: {extractor.name} has no such "
                        f"layer (its last ones: {', '.join(names[-6:])})")
    cut = extractor.get_layer(layer_name).input
    if isinstance(cut, (list, tuple)):
        raise UserError(f"{flag('fine_tune_from')}={layer_name}: the layer takes several inputs; "
                        "choose the first layer of a block")
    try:
        top = keras.Model(cut, extractor.output, name=f"{extractor.name}_top")
    except ValueError as error:  # the layers above also read an earlier layer's output
        raise UserError(f"{flag('fine_tune_from')}={layer_name}: the layers above it also read "
                        f"earlier layers ({str(error).splitlines()[0][:120]}); choose the "
                        "first layer of a block without a skip connection") from None
    lower = keras.Model(extractor.input, cut, name=f"{extractor.name}_below")
    trained = {id(layer) for layer in top.layers}
    for layer in extractor.layers:
        if id(layer) not in trained:
            layer.trainable = False
    images = keras.Input(backbone.input_shape[1:], name="images")
    normalization = backbone.layers[1]
    below = keras.Model(images, lower(normalization(images)), name=f"{backbone.name}_below")
    return SplitBackbone(below, top)
