"""What each TensorBoard tag of a run shows: the description TensorBoard displays under it,
and the groups it sits in.

A tag is written through `scalar` or `histogram` here, so that none goes out without its
description. TensorBoard sorts its groups by name and opens the first two: the numbered
families put the losses, then the lambdas and the phase, first; `url` pins the evaluation
curves above them and turns smoothing off, so that the phase and lambda steps stay steps.
"""
import json
import re
import urllib.parse

import tensorflow as tf

# The tag families (TensorBoard's groups), in the order TensorBoard shows them.
LOSSES = "1_losses"
TRAINING = "2_training"  # the lambdas, the phase, the learning rate, skipped steps
EVAL = "3_eval"
FIGURES = "4_figures"
EVAL_DIAGNOSTICS = "5_eval_diagnostics"
VARIANCE = "6_variance"
GRADIENT_NORMS = "7_gradient_norms"
# The evaluation curves the URL pins above every group.
PINNED = (f"{EVAL}/recall@1", f"{EVAL}/map@r")

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
    **{f"{LOSSES}/{name}": text for name, text in _LOSSES.items()},
    **{f"{TRAINING}/lambda{i}": f"lambda{i}: the weight of {term} in the total loss "
                                "(Sec. 3.5)." for i, term in _LAMBDAS.items()},
    f"{TRAINING}/learning_rate": "Adam's learning rate.",
    f"{TRAINING}/skipped_steps": "Steps skipped so far because a loss or gradient was not "
                                 "finite.",
    f"{TRAINING}/phase": "DVML's training phase (Sec. 3.5): 1 while the reconstruction "
                         "trains the decoder alone, 2 once it also reaches the encoder "
                         "(--phase1_steps).",
    f"{VARIANCE}/sigma_mean": "Mean sigma of the variance distribution over the probe images "
                              "and dimensions (the prior's is 1).",
    f"{VARIANCE}/mu_abs_mean": "Mean |mu| over the probe images and dimensions.",
    f"{VARIANCE}/log10_sigma_per_dimension": "log10 sigma of each dimension, averaged over the "
                                             "probe images, clipped to [-3, 1] so that no "
                                             "outlier sets the range.",
    f"{VARIANCE}/active_units": "Dimensions whose variance of mu over the probe exceeds 0.01 "
                                "(Burda et al. 2016).",
    f"{VARIANCE}/mu_between_class_share": "Share of Var(mu) between classes: 0 = mu independent "
                                          "of the class (the paper's premise), 1 = mu encodes "
                                          "the class.",
    f"{VARIANCE}/real_distance_to_class_centre": "Mean ||z_I - class centre|| over the probe.",
    f"{VARIANCE}/synthesized_distance_to_class_centre": "Mean ||z_I + mu + sigma * eps - class "
                                                        "centre|| over the probe.",
}


def description(tag: str) -> str:
    """The description of `tag`; KeyError for a tag that has none."""
    if tag in DESCRIPTIONS:
        return DESCRIPTIONS[tag]
    family, _, name = tag.partition("/")
    if family == GRADIENT_NORMS:
        term, target = re.fullmatch(r"(\w+?)_on_(log_var|backbone_output)", name).groups()
        wrt = "log sigma^2" if target == "log_var" else "x, the backbone's pooled features"
        return f"|d (lambda * {term}) / d {wrt}| on the probe. {_LOSSES[term]}"
    if family in (EVAL, EVAL_DIAGNOSTICS):
        if name.startswith("recall@"):
            return _METRICS["recall@"].format(k=name.split("@")[1])
        return _METRICS[name]
    raise KeyError(tag)


def scalar(tag: str, value) -> None:
    """Writes `value` under `tag`, with its description, at the default writer's step."""
    tf.summary.scalar(tag, value, description=description(tag))


def histogram(tag: str, values) -> None:
    tf.summary.histogram(tag, values, description=description(tag))


def url(port: int = 6006) -> str:
    """The address of TensorBoard's time series with the evaluation curves pinned and
    smoothing off (TensorBoard reads both from the query)."""
    pinned = json.dumps([{"plugin": "scalars", "tag": tag} for tag in PINNED],
                        separators=(",", ":"))
    query = urllib.parse.urlencode({"smoothing": 0, "pinnedCards": pinned})
    return f"http://localhost:{port}/?{query}#timeseries"
