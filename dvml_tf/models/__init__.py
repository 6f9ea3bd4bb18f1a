"""Backbones, the DVML encoder/decoder heads and the trainable DVML model (Keras 3)."""
