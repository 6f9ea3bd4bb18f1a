"""--fine_tune_from cuts the backbone where it can, and says in one line where it cannot."""
import numpy as np
import pytest

from dvml_tf.errors import UserError
from dvml_tf.models.backbone_split import split_backbone
from dvml_tf.models.backbones import build_backbone


def test_the_parts_compose_to_the_backbone_and_only_the_top_trains():
    backbone = build_backbone("efficientnet_lite0", 32)
    below, top = split_backbone(backbone, "_blocks__15___expand_conv")
    pixels = np.random.default_rng(0).uniform(0, 255, (2, 32, 32, 3)).astype(np.float32)
    np.testing.assert_allclose(top(below(pixels)), backbone(pixels), atol=1e-6)
    assert not below.trainable_weights
    assert {w.path for w in backbone.trainable_weights} == {w.path for w in top.trainable_weights}


@pytest.mark.parametrize("layer,message", [
    ("nope", r"^fine_tune_from=nope: efficientnet_lite0 has no such layer \(its last ones: "),
    ("_blocks__14___depthwise_conv", "the layers above it also read earlier layers"),
])
def test_a_cut_that_cannot_be_made_is_one_line(layer, message):
    with pytest.raises(UserError, match=message):
        split_backbone(build_backbone("efficientnet_lite0", 32), layer)
