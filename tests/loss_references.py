"""Slow, obvious references of today's losses, written loop by loop from the papers'
equations, for tests on either stack; and the gradients the tests compare: a loss's
through TensorFlow, a reference's by central differences."""
import math

import numpy as np
import tensorflow as tf

RNG = np.random.default_rng(5)


def unit(v):
    return v / np.linalg.norm(v)


def value_and_gradient(fn, embeddings, labels):
    """(fn(embeddings, labels), its gradient with respect to the embeddings)."""
    x = tf.constant(embeddings)
    with tf.GradientTape() as tape:
        tape.watch(x)
        value = fn(x, tf.constant(labels))
    return float(value), tape.gradient(value, x).numpy()


def numeric_gradient(f, x, h=1e-3):
    """The central-difference gradient of f at x, in float64."""
    grad = np.zeros_like(x, dtype=np.float64)
    for index in np.ndindex(x.shape):
        up, down = x.astype(np.float64).copy(), x.astype(np.float64).copy()
        up[index] += h
        down[index] -= h
        grad[index] = (f(up) - f(down)) / (2 * h)
    return grad


def slow_multi_similarity(anchors, anchor_labels, candidates, candidate_labels, skip,
                          alpha=2.0, beta=50.0, base=1.0, epsilon=0.1):
    """Eqs. 5-7 of Wang et al. 2019, one anchor at a time; skip(i, j): no pair."""
    losses = []
    for i, (a, y) in enumerate(zip(anchors, anchor_labels)):
        s = {j: float(np.dot(unit(a), unit(c))) for j, c in enumerate(candidates)
             if not skip(i, j)}
        positives = [j for j in s if candidate_labels[j] == y]
        negatives = [j for j in s if candidate_labels[j] != y]
        hardest_negative = max((s[k] for k in negatives), default=-math.inf)
        hardest_positive = min((s[j] for j in positives), default=math.inf)
        kept_p = [j for j in positives if s[j] - epsilon < hardest_negative]
        kept_n = [k for k in negatives if s[k] + epsilon > hardest_positive]
        losses.append(
            math.log(1 + sum(math.exp(-alpha * (s[j] - base)) for j in kept_p)) / alpha
            + math.log(1 + sum(math.exp(beta * (s[k] - base)) for k in kept_n)) / beta)
    return np.array(losses)


def slow_proxy_anchor(embeddings, labels, proxies, alpha=32.0, delta=0.1, reduction="mean"):
    """Eq. 4 of Kim et al. 2020, one proxy at a time; "sum" adds the proxies' terms."""
    positive, negative, in_batch = 0.0, 0.0, 0
    for c, p in enumerate(proxies):
        s = [float(np.dot(unit(x), unit(p))) for x in embeddings]
        own = [v for v, y in zip(s, labels) if y == c]
        other = [v for v, y in zip(s, labels) if y != c]
        if own:
            in_batch += 1
            positive += math.log(1 + sum(math.exp(-alpha * (v - delta)) for v in own))
        negative += math.log(1 + sum(math.exp(alpha * (v + delta)) for v in other))
    if reduction == "sum":
        return positive + negative
    return positive / in_batch + negative / len(proxies)


def random_batch(classes=4, per_class=3, dim=6, spread=1.0):
    labels = np.repeat(RNG.permutation(9)[:classes], per_class).astype(np.int32)
    centres = RNG.normal(size=(9, dim))
    embeddings = centres[labels] + spread * RNG.normal(size=(classes * per_class, dim))
    return embeddings.astype(np.float32), labels


def slow_contrastive(anchors, anchor_labels, candidates, candidate_labels, skip, margin=0.5,
                     reduction="mean"):
    """The contrastive loss of every (anchor, candidate) pair but skip(i, j): d^2 for a
    positive, relu(margin - d)^2 for a negative, d the distance of the unit vectors; "mean"
    averages positives and negatives apart and adds the two means."""
    positives, negatives = [], []
    for i, (a, y) in enumerate(zip(anchors, anchor_labels)):
        for j, (c, z) in enumerate(zip(candidates, candidate_labels)):
            if skip(i, j):
                continue
            d = float(np.linalg.norm(unit(a) - unit(c)))
            if y == z:
                positives.append(d * d)
            else:
                negatives.append(max(margin - d, 0.0) ** 2)
    if reduction == "sum":
        return sum(positives) + sum(negatives)
    return (np.mean(positives) if positives else 0.0) + (np.mean(negatives) if negatives
                                                         else 0.0)


def slow_memory_after(history, size):
    """The XBM authors' memory once the batches in `history` (a list of (rows, labels), the
    current batch last) were enqueued: the last `size` rows, as (rows, labels, index of
    each of the current batch's rows among them or None)."""
    rows = [r for batch, _ in history for r in batch]
    labels = [y for _, batch_labels in history for y in batch_labels]
    first = len(rows) - len(history[-1][0])
    kept = range(max(len(rows) - size, 0), len(rows))
    where = {k: n for n, k in enumerate(kept)}
    return ([rows[k] for k in kept], [labels[k] for k in kept],
            [where.get(first + i) for i in range(len(history[-1][0]))])


def slow_circle(anchors, anchor_labels, candidates, candidate_labels, skip, gamma=80.0,
                margin=0.4):
    """Sun et al. 2020, eq. 4 with its self-paced weights, one anchor at a time; skip(i, j):
    no pair. An anchor without a positive or a negative pair pays 0 (None: not counted)."""
    losses = []
    for i, (a, y) in enumerate(zip(anchors, anchor_labels)):
        s = {j: float(np.dot(unit(a), unit(c))) for j, c in enumerate(candidates)
             if not skip(i, j)}
        positives = [s[j] for j in s if candidate_labels[j] == y]
        negatives = [s[j] for j in s if candidate_labels[j] != y]
        if not positives or not negatives:
            losses.append(None)
            continue
        p_sum = sum(math.exp(-gamma * max(1 + margin - v, 0) * (v - (1 - margin)))
                    for v in positives)
        n_sum = sum(math.exp(gamma * max(v + margin, 0) * (v - margin)) for v in negatives)
        losses.append(math.log1p(p_sum * n_sum))
    return losses
