"""Deployment: export.py writes the SavedModel TensorFlow Serving serves; client.py talks to
that server; index.py is a faiss retrieval index over an export."""
