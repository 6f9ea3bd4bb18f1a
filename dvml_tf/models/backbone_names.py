"""The backbones by name and the smallest input each accepts, without Keras: the settings
(config.py) validate --backbone and --image_size from here."""

BACKBONES = ("googlenet", "resnet50", "inception_v3", "mobilenet_v2", "efficientnet_lite0",
             "efficientnet_lite1", "efficientnet_lite2", "small_cnn", "hub")

MIN_IMAGE_SIZE = {"resnet50": 32, "inception_v3": 75, "mobilenet_v2": 32, "googlenet": 32,
                  "efficientnet_lite0": 32, "efficientnet_lite1": 32, "efficientnet_lite2": 32,
                  "small_cnn": 8, "hub": 8}
