"""DVML's four loss terms (Lin et al. 2018, Sec. 3.4).

variational.py: L1, the KL divergence (eq. 8), and L2, the reconstruction (eq. 9).
metric.py: the metric losses Lm of L3 (on synthesized samples) and L4 (on z_I) by name,
through TensorFlow Addons or the package's own (standard.py); margin_dws.py: Wu et al.'s
margin loss with distance-weighted sampling; proxy_nca.py, angular.py; today's:
multi_similarity.py, proxy_anchor.py, and cross_batch_memory.py (XBM) for pair-based ones.
"""
