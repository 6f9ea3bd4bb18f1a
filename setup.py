"""Installs dvml_tf: Deep Variational Metric Learning in TensorFlow 2.15 / Keras 2."""
from setuptools import find_packages, setup

# Versions checked to install together on Python 3.11 (see BUILD.md).
CORE = [
    "tensorflow-addons==0.23.0",
    "tensorflow-datasets==4.9.10",
    "tensorflow-metadata==1.17.3",
    # What the TFDS builders of cub, cars and sop import but TFDS does not declare:
    # importlib_resources (every builder on TFDS 4.9.10), OpenCV (CUB's masks) and SciPy
    # (Cars196's .mat annotations).
    "importlib_resources>=5",
    "opencv-python-headless>=4.8,<4.12",
    "scipy>=1.10",
    "protobuf>=4.25,<5",
    "numpy>=1.26,<2",
    "scikit-learn>=1.3",
    "absl-py>=2.0",
    "faiss-cpu>=1.8",
    "pillow>=10",
    "matplotlib>=3.7",
]

setup(
    name="dvml_tf",
    version="0.1.0",
    description="Deep Variational Metric Learning (ECCV 2018) for TensorFlow 2 / Keras 2",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    packages=find_packages(include=["dvml_tf", "dvml_tf.*"]),
    python_requires=">=3.9,<3.12",
    install_requires=CORE,
    extras_require={
        # CPU build: the default, and what CI uses.
        "cpu": ["tensorflow-cpu==2.15.1"],
        # CUDA build: pulls the NVIDIA libraries from PyPI (Linux x86_64).
        "gpu": ["tensorflow[and-cuda]==2.15.1"],
        "test": ["pytest>=7", "ruff>=0.4"],
    },
    entry_points={
        "console_scripts": [
            "dvml-train=dvml_tf.cli.train:run",
            "dvml-evaluate=dvml_tf.cli.evaluate:run",
            "dvml-visualize=dvml_tf.cli.visualize:run",
            "dvml-index=dvml_tf.cli.index:run",
            "dvml-serving-client=dvml_tf.cli.serving_client:run",
        ]
    },
)
