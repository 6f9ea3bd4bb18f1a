"""Datasets, preprocessing and class-balanced batching."""
