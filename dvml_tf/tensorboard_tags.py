"""What each TensorBoard tag of a run shows: the description TensorBoard displays under it.

A tag is written through `scalar` or `histogram` here, so that none goes out without its
description.
"""
import re

import tensorflow as tf

_LOSSES = {
    "loss": "Total loss: l1 KL + l2 reconstruction + l3 synthesized metric + l4 metric "
            "(mean over the steps since the last point).",
    "kl_loss": "L1 (eq. 8), weighted by lambda1: KL(N(mu, sigma^2) || N(0, I)) of the "
               "variance distribution, per image.",
    "reconstruction_loss": "L2 (eq. 9), weighted by lambda2: ||x - decoder(z_I + z_V)|| "
                           "averaged over the T samples and the batch; reaches the encoder "
                           "in phase 2 only.",
    "synthesized_metric_loss": "L3, weighted by lambda3: the metric loss on synthesized "
                               "embeddings z_I + mu + sigma * eps.",
    "metric_loss": "L4, weighted by lambda4: the metric loss (--metric_loss) on the "
                   "invariant embeddings z_I; the baseline's only loss.",
}
_LAMBDAS = {1: "the KL (L1)", 2: "the reconstruction (L2)",
            3: "the synthesized metric loss (L3)", 4: "the metric loss on z_I (L4)"}
_METRICS = {
    "recall@": "Recall@{k}: share of test queries with a same-class image among their {k} "
               "nearest neighbours (the query itself left out).",
    "map@r": "MAP@R (Musgrave et al. 2020): mean average precision over each query's R "
             "nearest neighbours, R its number of same-class images.",
    "nmi": "NMI of k-means (k = test classes) on the test embeddings against the classes.",
    "f1": "Pairwise F1 of the k-means clustering: pairs of images in one cluster vs one class.",
    "ks_p_value_mean": "Mean over test classes of the KS p-value of the central features "
                       "(embedding minus class centre) against a Gaussian (Table 4).",
    "relative_deviation_percent": "Average relative deviation of the test features, % "
                                  "(Table 4).",
}
DESCRIPTIONS = {
    **{f"losses/{name}": text for name, text in _LOSSES.items()},
    **{f"lambdas/lambda{i}": f"lambda{i}: the weight of {term} in the total loss (Sec. 3.5)."
       for i, term in _LAMBDAS.items()},
    "learning_rate": "Adam's learning rate.",
    "skipped_steps": "Steps skipped so far because a loss or gradient was not finite.",
    "phase": "DVML's training phase (Sec. 3.5): 1 while the reconstruction trains the decoder "
             "alone, 2 once it also reaches the encoder (--phase1_steps).",
    "variance/sigma_mean": "Mean sigma of the variance distribution over the probe images "
                           "and dimensions (the prior's is 1).",
    "variance/mu_abs_mean": "Mean |mu| over the probe images and dimensions.",
    "variance/log10_sigma_per_dimension": "log10 sigma of each dimension, averaged over the "
                                          "probe images, clipped to [-3, 1] so that no "
                                          "outlier sets the range.",
    "variance/active_units": "Dimensions whose variance of mu over the probe exceeds 0.01 "
                             "(Burda et al. 2016).",
    "variance/mu_between_class_share": "Share of Var(mu) between classes: 0 = mu independent "
                                       "of the class (the paper's premise), 1 = mu encodes "
                                       "the class.",
    "variance/real_distance_to_class_centre": "Mean ||z_I - class centre|| over the probe.",
    "variance/synthesized_distance_to_class_centre": "Mean ||z_I + mu + sigma * eps - class "
                                                     "centre|| over the probe.",
}


def description(tag: str) -> str:
    """The description of `tag`; KeyError for a tag that has none."""
    if tag in DESCRIPTIONS:
        return DESCRIPTIONS[tag]
    family, _, name = tag.partition("/")
    if family == "gradient_norms":
        term, target = re.fullmatch(r"(\w+?)_on_(log_var|backbone_output)", name).groups()
        wrt = "log sigma^2" if target == "log_var" else "x, the backbone's pooled features"
        return f"|d (lambda * {term}) / d {wrt}| on the probe. {_LOSSES[term]}"
    if family in ("eval", "eval_diagnostics"):
        if name.startswith("recall@"):
            return _METRICS["recall@"].format(k=name.split("@")[1])
        return _METRICS[name]
    raise KeyError(tag)


def scalar(tag: str, value) -> None:
    """Writes `value` under `tag`, with its description, at the default writer's step."""
    tf.summary.scalar(tag, value, description=description(tag))


def histogram(tag: str, values) -> None:
    tf.summary.histogram(tag, values, description=description(tag))
