"""Installs dvml_tf: Deep Variational Metric Learning in TensorFlow 2 / Keras 2.

`pip install .` installs the default stack: TensorFlow 2.16-2.21 with tf-keras (Keras 2),
Python 3.10-3.13, tested on TensorFlow 2.21. The reference stack (TensorFlow 2.15.1 with
TF-Addons 0.23.0, Python 3.11) is requirements-reference.txt, then
`pip install --no-deps .` (BUILD.md).
"""
from setuptools import find_packages, setup

# What every stack needs besides TensorFlow, Keras and TF-Addons.
COMMON = [
    "tensorflow-datasets==4.9.10",
    # What the TFDS builders of cub, cars and sop import but TFDS does not declare:
    # importlib_resources (every builder on TFDS 4.9.10), OpenCV (CUB's masks) and SciPy
    # (Cars196's .mat annotations).
    "importlib_resources>=5",
    "opencv-python-headless>=4.8",
    "scipy>=1.10",
    "scikit-learn>=1.3",
    "absl-py>=2.0",
    "faiss-cpu>=1.8",
    "pillow>=10",
    "matplotlib>=3.7",
    # --backbone=hub: TF2 SavedModels in TF Hub's format. tensorflow-hub imports
    # pkg_resources, which setuptools 82 removed (and Python >= 3.12 venvs lack).
    "tensorflow-hub>=0.16",
    "setuptools<82",
]
DEFAULT_STACK = [
    "tensorflow>=2.16,<2.22",
    "tf-keras>=2.16,<2.22",
    # TensorFlow >= 2.21 no longer depends on it.
    "tensorboard>=2.16",
    "tensorflow-serving-api>=2.16,<2.22",
]

setup(
    name="dvml_tf",
    version="0.1.0",
    description="Deep Variational Metric Learning (ECCV 2018) for TensorFlow 2 / Keras 2",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    packages=find_packages(include=["dvml_tf", "dvml_tf.*"]),
    python_requires=">=3.10,<3.14",
    install_requires=COMMON + DEFAULT_STACK,
    extras_require={
        # CUDA on Linux x86_64: TensorFlow's own pip-installed NVIDIA libraries.
        "gpu": ["tensorflow[and-cuda]>=2.16,<2.22"],
        # tf-slim: TF-Slim's own Inception v1, which the weight converter's test builds.
        "test": ["pytest>=7", "ruff>=0.4", "tf-slim==1.1.0"],
    },
    entry_points={
        "console_scripts": [
            "dvml-train=dvml_tf.cli.train:run",
            "dvml-evaluate=dvml_tf.cli.evaluate:run",
            "dvml-visualize=dvml_tf.cli.visualize:run",
            "dvml-index=dvml_tf.cli.index:run",
            "dvml-serving-client=dvml_tf.cli.serving_client:run",
            "dvml-convert-weights=dvml_tf.cli.convert_weights:run",
        ]
    },
)
