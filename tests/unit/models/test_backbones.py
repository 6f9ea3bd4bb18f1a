"""Every backbone: [0, 255] images in, pooled features of the documented size out."""
import numpy as np
import pytest

from dvml_tf.errors import UserError
from dvml_tf.models.backbones import build_backbone

FEATURE_DIMS = {"googlenet": 1024, "resnet50": 2048, "inception_v3": 2048,
                "mobilenet_v2": 1280, "small_cnn": 256}


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(FEATURE_DIMS))
def test_feature_size(name):
    size = 75 if name == "inception_v3" else 64
    backbone = build_backbone(name, size)
    images = np.random.default_rng(0).uniform(0, 255, (2, size, size, 3)).astype(np.float32)
    assert backbone(images).shape == (2, FEATURE_DIMS[name])


def test_weights_file_round_trip(tmp_path):
    source = build_backbone("small_cnn", 16)
    extractor = source.get_layer("small_cnn")
    path = str(tmp_path / "small_cnn.weights.h5")
    extractor.save_weights(path)
    loaded = build_backbone("small_cnn", 16, weights=path)
    images = np.random.default_rng(1).uniform(0, 255, (2, 16, 16, 3)).astype(np.float32)
    np.testing.assert_allclose(loaded(images), source(images), rtol=1e-5)


@pytest.mark.parametrize("name,size,weights,message", [
    ("googlenet", 64, "imagenet", "no converted Inception v1 weights at .* && python -m "
     "dvml_tf.convert_weights --checkpoint=inception_v1.ckpt --out="),
    ("small_cnn", 32, "imagenet", "no ImageNet weights for small_cnn"),
    ("small_cnn", 32, "/no/such/weights.h5", "no such file"),
    ("inception_v3", 64, "none", "^image_size=64 is too small for backbone=inception_v3"),
    ("vgg16", 64, "none", "^backbone=vgg16 is unknown"),
])
def test_bad_backbone_settings_are_user_errors(name, size, weights, message):
    with pytest.raises(UserError, match=message):
        build_backbone(name, size, weights)
