"""Evaluation: metrics.py computes Recall@K, MAP@R, NMI and F1 of any embeddings (numpy and
faiss only); model_evaluation.py embeds a split with a trained model and logs its metrics;
figures.py draws what a trained model learned."""
