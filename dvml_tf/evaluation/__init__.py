"""Evaluation: metrics.py computes every metric of any embeddings (numpy and faiss only),
with NMI, F1 and their k-means in clustering.py and bootstrap intervals in bootstrap.py;
model_evaluation.py embeds a split with a trained model and logs its metrics; figures.py
draws what a trained model learned."""
