"""The standard metric losses TF-Addons provided, written here from their papers, in pure
TensorFlow, with TF-Addons' signatures and reductions (tests/unit/losses/test_parity.py
checks values and gradients against TF-Addons where it imports).

- triplet_semihard_loss: Schroff et al. 2015 (FaceNet), semi-hard negatives;
- triplet_hard_loss: Hermans et al. 2017, the batch-hard triplet;
- npairs_loss: Sohn 2016, softmax over anchor-positive similarities;
- lifted_struct_loss: Song et al. 2016, eq. 4;
- contrastive_loss: Hadsell et al. 2006.

Distances are between every pair of rows; d(i, i) = 0. Where a row has no element to pick
(an anchor without a negative, say), the rules below say what stands in, so that every
loss is defined on any batch.
"""
import tensorflow as tf


def pairwise_distances(embeddings: tf.Tensor, squared: bool) -> tf.Tensor:
    """[B, B] Euclidean (or squared Euclidean) distances, zero on the diagonal; the
    square root has a zero gradient where the distance is zero."""
    norms = tf.reduce_sum(tf.square(embeddings), axis=1)
    squares = norms[:, None] + norms[None, :] - 2.0 * tf.matmul(embeddings, embeddings,
                                                                  transpose_b=True)
    squares = tf.maximum(squares, 0.0)
    if not squared:
        zero = tf.equal(squares, 0.0)
        squares = tf.where(zero, 0.0, tf.sqrt(tf.where(zero, 1.0, squares)))
    off_diagonal = 1.0 - tf.eye(tf.shape(embeddings)[0], dtype=embeddings.dtype)
    return squares * off_diagonal


def _same_class(labels: tf.Tensor) -> tf.Tensor:
    labels = tf.reshape(labels, [-1])
    return tf.equal(labels[:, None], labels[None, :])


def _positive_pairs(labels: tf.Tensor) -> tf.Tensor:
    """[B, B] bool: (i, j) of one class, i != j."""
    same = _same_class(labels)
    return same & ~tf.eye(tf.shape(same)[0], dtype=tf.bool)


def _masked_min(values: tf.Tensor, mask: tf.Tensor, axis: int) -> tf.Tensor:
    """The smallest of the masked values along `axis`; the largest value of all where no
    value is masked."""
    fallback = tf.reduce_max(values, axis=axis, keepdims=True)
    chosen = tf.reduce_min(tf.where(mask, values, fallback), axis=axis, keepdims=True)
    return tf.where(tf.reduce_any(mask, axis=axis, keepdims=True), chosen, fallback)


def _masked_max(values: tf.Tensor, mask: tf.Tensor, axis: int) -> tf.Tensor:
    """The largest of the masked values along `axis`; the smallest value of all where no
    value is masked."""
    fallback = tf.reduce_min(values, axis=axis, keepdims=True)
    chosen = tf.reduce_max(tf.where(mask, values, fallback), axis=axis, keepdims=True)
    return tf.where(tf.reduce_any(mask, axis=axis, keepdims=True), chosen, fallback)


def _distances(embeddings: tf.Tensor, distance_metric: str) -> tf.Tensor:
    if distance_metric not in ("L2", "squared-L2"):
        raise ValueError(f"distance_metric={distance_metric!r}: use 'L2' or 'squared-L2'")
    return pairwise_distances(tf.convert_to_tensor(embeddings, tf.float32),
                              squared=distance_metric == "squared-L2")


def triplet_semihard_loss(y_true: tf.Tensor, y_pred: tf.Tensor, margin: float = 1.0,
                          distance_metric: str = "L2") -> tf.Tensor:
    """Mean over positive pairs (a, p) of relu(margin + d(a, p) - d(a, n)), n the closest
    negative farther than p; where none is farther, the farthest negative; where the anchor
    has no negative at all, d(a, n) = the smallest distance of its row (0)."""
    distances = _distances(y_pred, distance_metric)
    negative = ~_same_class(y_true)
    # farther[a, p, n]: n is a negative of a farther from a than p.
    farther = negative[:, None, :] & (distances[:, None, :] > distances[:, :, None])
    rows = tf.broadcast_to(distances[:, None, :], tf.shape(farther))
    semi_hard = tf.squeeze(_masked_min(rows, farther, axis=2), axis=2)
    farthest = _masked_max(distances, negative, axis=1)
    chosen = tf.where(tf.reduce_any(farther, axis=2), semi_hard, farthest)
    positive = tf.cast(_positive_pairs(y_true), tf.float32)
    terms = tf.maximum((margin + distances - chosen) * positive, 0.0)
    return tf.reduce_sum(terms) / tf.reduce_sum(positive)


def triplet_hard_loss(y_true: tf.Tensor, y_pred: tf.Tensor, margin: float = 1.0,
                      soft: bool = False, distance_metric: str = "L2") -> tf.Tensor:
    """Mean over anchors of relu(margin + farthest positive - closest negative); with
    `soft`, Hermans et al.'s soft margin softplus(farthest positive - closest negative),
    which has no margin. An anchor without a positive counts its row's smallest distance,
    one without a negative its row's largest."""
    distances = _distances(y_pred, distance_metric)
    hardest_positive = _masked_max(distances, _positive_pairs(y_true), axis=1)
    hardest_negative = _masked_min(distances, ~_same_class(y_true), axis=1)
    gap = hardest_positive - hardest_negative
    return tf.reduce_mean(tf.math.softplus(gap) if soft else tf.maximum(gap + margin, 0.0))


def npairs_loss(y_true: tf.Tensor, y_pred: tf.Tensor) -> tf.Tensor:
    """y_pred: similarities [B, B] of anchors (rows) and positives (columns). The mean over
    anchors of the cross-entropy between softmax(row) and the uniform distribution over the
    columns of the anchor's class."""
    same = tf.cast(_same_class(y_true), tf.float32)
    targets = same / tf.reduce_sum(same, axis=1, keepdims=True)
    log_probabilities = tf.nn.log_softmax(tf.cast(y_pred, tf.float32), axis=1)
    return tf.reduce_mean(-tf.reduce_sum(targets * log_probabilities, axis=1))


def lifted_struct_loss(labels: tf.Tensor, embeddings: tf.Tensor,
                       margin: float = 1.0) -> tf.Tensor:
    """Song et al. 2016, eq. 4: 1/(2|P|) sum over positive pairs {i, j} of relu(J_ij)^2,
    J_ij = log(sum_{k negative of i} e^(margin - D_ik) + sum_{l negative of j}
    e^(margin - D_jl)) + D_ij, on non-squared distances of the raw embeddings."""
    distances = pairwise_distances(tf.convert_to_tensor(embeddings, tf.float32), squared=False)
    negative = ~_same_class(labels)
    logits = margin - distances
    # Each pair's log-sum-exp is shifted by M_ij, the larger of its two rows' largest
    # negative logit. shifted[i, j, k] = logits[i, k] - M_ij, only for negatives k of i.
    row_max = _masked_max(logits, negative, axis=1)
    pair_max = tf.maximum(row_max, tf.transpose(row_max))
    shifted = tf.where(negative[:, None, :], logits[:, None, :] - pair_max[:, :, None], -1e30)
    row_sums = tf.reduce_sum(tf.exp(shifted), axis=2)
    j_values = pair_max + tf.math.log(row_sums + tf.transpose(row_sums)) + distances
    positive = tf.cast(_positive_pairs(labels), tf.float32)
    terms = tf.square(tf.maximum(j_values * positive, 0.0))
    # Over ordered pairs (each {i, j} twice): 1/(2|P|) sum_P = (1/4) sum_ordered / (|ordered|/2).
    return 0.25 * tf.reduce_sum(terms) / (tf.reduce_sum(positive) / 2.0)


def contrastive_loss(y_true: tf.Tensor, y_pred: tf.Tensor, margin: float = 1.0) -> tf.Tensor:
    """Per pair: d^2 for a same-class pair (y_true 1), relu(margin - d)^2 otherwise
    (y_pred: the pairs' distances d). Not reduced."""
    same = tf.cast(y_true, tf.float32)
    distances = tf.cast(y_pred, tf.float32)
    return same * tf.square(distances) + (1.0 - same) * tf.square(tf.maximum(margin - distances,
                                                                             0.0))
