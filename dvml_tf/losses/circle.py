"""Circle loss (Sun et al., CVPR 2020, eq. 4 with the self-paced weights of Sec. 3.2),
written from the paper.

On cosine similarities s of L2-normalised embeddings, anchor i pays
    softplus( logsumexp_{n in N_i} gamma a_n (s_n - D_n)
            + logsumexp_{p in P_i} -gamma a_p (s_p - D_p) ),
a_p = [1 + m - s_p]+, a_n = [s_n + m]+, D_p = 1 - m, D_n = m; P_i / N_i its other images
of its class / of other classes. The paper's fine-grained retrieval setting (Cars196):
m = 0.4, gamma = 80. The weights a_p, a_n carry gradient here, as the equations read and
as keras.losses.Circle computes them (the authors' code holds them constant). The
candidates may come from another set than the anchors: cross-batch memory (XBM).
"""
import tensorflow as tf

GAMMA, MARGIN = 80.0, 0.4


def circle_terms(anchors: tf.Tensor, anchor_labels: tf.Tensor, candidates: tf.Tensor,
                 candidate_labels: tf.Tensor, ignored: tf.Tensor, gamma: float = GAMMA,
                 margin: float = MARGIN) -> tf.Tensor:
    """(each anchor's loss [A], whether it has a positive and a negative pair [A]) against
    the candidates [C, D]; `ignored` [A, C] marks pairs that are no pair (an anchor with
    itself, an empty memory slot). An anchor without both kinds of pair pays 0."""
    anchors = tf.math.l2_normalize(tf.cast(anchors, tf.float32), axis=-1)
    candidates = tf.math.l2_normalize(tf.cast(candidates, tf.float32), axis=-1)
    similarity = tf.matmul(anchors, candidates, transpose_b=True)
    same = tf.equal(anchor_labels[:, None], candidate_labels[None, :])
    positive, negative = same & ~ignored, ~same & ~ignored
    positive_logits = -gamma * tf.nn.relu(1.0 + margin - similarity) * (
        similarity - (1.0 - margin))
    negative_logits = gamma * tf.nn.relu(similarity + margin) * (similarity - margin)
    both = tf.reduce_any(positive, axis=1) & tf.reduce_any(negative, axis=1)
    # An anchor without both kinds gets 0 logits (no inf - inf), and its term is dropped.
    summed = (_masked_logsumexp(positive_logits, positive)
              + _masked_logsumexp(negative_logits, negative))
    return tf.where(both, tf.math.softplus(tf.where(both, summed, 0.0)), 0.0), both


def _masked_logsumexp(logits: tf.Tensor, kept: tf.Tensor) -> tf.Tensor:
    """logsumexp over the kept entries of each row; 0 for a row without any."""
    return tf.where(tf.reduce_any(kept, axis=1),
                    tf.reduce_logsumexp(tf.where(kept, logits, -1e30), axis=1), 0.0)
