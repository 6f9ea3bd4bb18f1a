"""The backbones by name and the smallest input each accepts, without Keras: the settings
(config.py) validate --backbone and --image_size from here."""

BACKBONES = ("googlenet", "resnet50", "inception_v3", "mobilenet_v2", "small_cnn", "hub")

MIN_IMAGE_SIZE = {"resnet50": 32, "inception_v3": 75, "mobilenet_v2": 32, "googlenet": 32,
                  "small_cnn": 8, "hub": 8}
