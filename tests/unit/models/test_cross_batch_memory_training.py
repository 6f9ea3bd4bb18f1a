"""XBM inside DVML's train_step: each step's real embeddings z_I join the memory after its
loss, a skipped step's do not, and a checkpoint carries the memory to a resumed run."""
import numpy as np
import pytest
import tensorflow as tf
from helpers import tiny_batch, tiny_model


def _z_invariant(model, images):
    """The step's z_I as train_step computes it (training mode, the weights before it)."""
    return model.encode(tf.constant(images), training=True)[0].numpy()


def test_each_step_writes_its_embeddings_over_the_oldest():
    model = tiny_model(metric_loss="multi_similarity", cross_batch_memory=12)
    images, labels = tiny_batch()  # 8 images
    first = _z_invariant(model, images)
    model.train_step((tf.constant(images), tf.constant(labels)))
    second = _z_invariant(model, images)
    model.train_step((tf.constant(images), tf.constant(labels)))
    memory = model.metric_loss.memory
    held = memory.embeddings.numpy()
    assert int(memory.written) == 16
    # Slots 0-7 took step 1's rows; step 2's went to 8-11, then over the oldest, 0-3.
    np.testing.assert_allclose(held[[8, 9, 10, 11, 0, 1, 2, 3]], second, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(held[4:8], first[4:8], rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(memory.labels.numpy()[[8, 9, 10, 11, 0, 1, 2, 3]], labels)


def test_a_skipped_step_leaves_the_memory_alone():
    model = tiny_model(metric_loss="multi_similarity", cross_batch_memory=12)
    images, labels = tiny_batch()
    images[0, 0, 0, 0] = np.nan
    model.train_step((tf.constant(images), tf.constant(labels)))
    assert int(model.skipped_steps) == 1 and int(model.metric_loss.memory.written) == 0


def test_a_checkpoint_carries_the_memory_to_the_resumed_run(tmp_path):
    images, labels = (tf.constant(a) for a in tiny_batch())
    trained = tiny_model(metric_loss="multi_similarity", cross_batch_memory=12)
    for _ in range(2):
        trained.train_step((images, labels))
    path = tf.train.Checkpoint(model=trained, optimizer=trained.optimizer).save(
        str(tmp_path / "ckpt"))
    resumed = tiny_model(metric_loss="multi_similarity", cross_batch_memory=12, seed=1)
    tf.train.Checkpoint(model=resumed, optimizer=resumed.optimizer).restore(path)
    for name in ("embeddings", "labels", "written"):
        np.testing.assert_array_equal(getattr(resumed.metric_loss.memory, name).numpy(),
                                      getattr(trained.metric_loss.memory, name).numpy())
    # The next step's loss pairs the batch with the same memory in both.
    losses = [float(m.compute_losses(images, labels, m.steps_taken.value)["metric_loss"])
              for m in (trained, resumed)]
    assert losses[0] == losses[1] > 0


def test_the_variance_probe_pairs_its_int64_labels_with_the_memory():
    # The probe of TensorBoard's variance summaries holds NumPy's int64 labels; the memory
    # int32 ones (a DVML run with XBM stopped at its first summary).
    model = tiny_model(metric_loss="multi_similarity", cross_batch_memory=12)
    images, labels = tiny_batch()
    model.train_step((tf.constant(images), tf.constant(labels)))
    _, _, norms = model.variance_probe(tf.constant(images), tf.constant(labels, tf.int64),
                                       model.steps_taken.value)
    assert float(norms["metric_loss"][1]) > 0


def test_a_skipped_step_writes_none_of_its_embeddings_into_a_filled_memory():
    """Its NaN rows would be the next step's negatives: that step would be skipped too."""
    model = tiny_model(metric_loss="multi_similarity", cross_batch_memory=12)
    images, labels = tiny_batch()
    model.train_step((tf.constant(images), tf.constant(labels)))
    before = model.metric_loss.memory.embeddings.numpy().copy()
    broken = images.copy()
    broken[0, 0, 0, 0] = np.nan
    model.train_step((tf.constant(broken), tf.constant(labels)))
    np.testing.assert_array_equal(model.metric_loss.memory.embeddings.numpy(), before)
    model.train_step((tf.constant(images), tf.constant(labels)))
    assert int(model.skipped_steps) == 1


def test_a_memory_s_empty_slots_are_no_negatives():
    """One memory positive at cosine 0.05, the only written negative at -0.5, six empty
    (zero) slots: with the empty slots as negatives at cosine 0, the hardest negative would
    be 0 and the positive would be mined (1.02); without them, the paper's term is 0."""
    from dvml_tf.losses.metric import make_metric_loss

    loss = make_metric_loss("multi_similarity", metric_reduction="sum")
    anchor = tf.constant([[1.0, 0.0, 0.0]])
    positive = [0.05, np.sqrt(1 - 0.05 ** 2), 0.0]
    negative = [-0.5, 0.0, np.sqrt(1 - 0.25)]
    memory = tf.constant([positive, negative] + [[0.0, 0.0, 0.0]] * 6, tf.float32)
    memory_labels = tf.constant([0, 1] + [-1] * 6, tf.int32)
    empty = tf.constant([[False, False] + [True] * 6])
    value = loss.memory_loss(anchor, tf.constant([0], tf.int32), memory, memory_labels, empty)
    assert float(value) == pytest.approx(0.0, abs=1e-6)


def test_the_synthesized_samples_are_paired_with_a_memory_holding_the_real_embeddings():
    """L3 with XBM: each synthesized batch against the memory as it is with the step's real
    z_I in it (none of them the sample's own row), as L4's batch is."""
    from loss_references import slow_multi_similarity

    from dvml_tf.models.dvml import synthesize

    model = tiny_model(metric_loss="multi_similarity", cross_batch_memory=12,
                       synthesized_in_metric=2, normalize_synthesized=False)
    images, labels = tiny_batch()
    step = model.steps_taken.value
    features = model.features_of(tf.constant(images), True)
    heads = model.encoder(features)
    terms = model.losses_of_features(features, heads, tf.constant(labels), step)
    z_invariant = heads[0].numpy()
    samples = synthesize(*heads, model._noise(step, 8, 8)).numpy()
    expected = np.mean([
        float(model.metric_loss.metric.loss(tf.constant(samples[t]), tf.constant(labels),
                                                None))
        + slow_multi_similarity(samples[t], labels, z_invariant, labels,
                                lambda i, j: False).mean()
        for t in range(2)])
    assert float(terms["synthesized_metric_loss"]) == pytest.approx(expected, rel=1e-4)
