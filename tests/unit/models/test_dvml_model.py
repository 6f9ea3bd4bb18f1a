"""Where DVML's gradients go in each phase, the baseline, and the reparameterised samples."""
import numpy as np
import pytest
import tensorflow as tf
from helpers import tiny_batch, tiny_model

ENCODER_HEADS = ("z_invariant", "mu", "log_var")


def _gradient_norms(model, term, step):
    images, labels = tiny_batch()
    with tf.GradientTape() as tape:
        value = model.compute_losses(images, labels, step, training=True)[term]
    variables = model.trainable_variables
    grads = tape.gradient(value, variables)
    return {v.name: 0.0 if g is None else float(tf.norm(g)) for v, g in zip(variables, grads)}


def _norm_of(norms, fragment):
    return sum(value for name, value in norms.items() if fragment in name)


@pytest.mark.parametrize("term", ["reconstruction_loss", "synthesized_metric_loss"])
def test_phase2_gradients_reach_mu_and_log_var(term):
    model = tiny_model(phase1_steps=10)
    norms = _gradient_norms(model, term, step=10)
    assert _norm_of(norms, "mu/kernel") > 0
    assert _norm_of(norms, "log_var/kernel") > 0


@pytest.mark.parametrize("trains", ["everything", "variance_heads"])
def test_phase2_reconstruction_reaches_backbone_and_z_invariant_only_when_asked(trains):
    model = tiny_model(phase1_steps=10, phase2_reconstruction_trains=trains)
    norms = _gradient_norms(model, "reconstruction_loss", step=10)
    everything = trains == "everything"
    assert (_norm_of(norms, "z_invariant/") > 0) == everything
    assert (_norm_of(norms, "block") > 0) == everything  # the backbone
    assert _norm_of(norms, "mu/kernel") > 0
    assert _norm_of(norms, "log_var/kernel") > 0


def test_phase1_reconstruction_trains_only_the_decoder():
    model = tiny_model(phase1_steps=10)
    norms = _gradient_norms(model, "reconstruction_loss", step=9)
    assert _norm_of(norms, "decoder") > 0
    for head in ENCODER_HEADS:
        assert _norm_of(norms, f"{head}/") == 0
    assert _norm_of(norms, "block") == 0  # the backbone


def test_phase1_synthesized_metric_loss_still_reaches_mu():
    model = tiny_model(phase1_steps=10)
    norms = _gradient_norms(model, "synthesized_metric_loss", step=0)
    assert _norm_of(norms, "mu/kernel") > 0


def test_variance_distribution_starts_at_the_prior_with_no_kl_gradient():
    model = tiny_model(phase1_steps=10)
    images, labels = tiny_batch()
    _, mu, log_var = model.encoder(model.backbone(images))
    np.testing.assert_array_equal(mu.numpy(), 0.0)
    np.testing.assert_array_equal(log_var.numpy(), 0.0)
    assert float(model.compute_losses(images, labels, 0)["kl_loss"]) == 0.0
    assert _norm_of(_gradient_norms(model, "kl_loss", step=0), "block") == 0  # the backbone


def test_lambda_schedule_switches_at_phase1_steps():
    model = tiny_model(phase1_steps=10)
    np.testing.assert_allclose(model.lambdas(9).numpy(), [1, 1, 0.1, 1])
    np.testing.assert_allclose(model.lambdas(10).numpy(), [0.8, 1, 0.2, 0.8])


def test_total_is_the_weighted_sum():
    model = tiny_model(phase1_steps=10)
    images, labels = tiny_batch()
    terms = model.compute_losses(images, labels, 3, training=False)
    expected = (terms["kl_loss"] + terms["reconstruction_loss"]
                + 0.1 * terms["synthesized_metric_loss"] + terms["metric_loss"])
    assert float(terms["loss"]) == pytest.approx(float(expected), rel=1e-5)


def _weights(model, fragment):
    return [v.numpy().copy() for v in model.trainable_variables if fragment in v.name]


def test_baseline_trains_only_the_z_invariant_metric_loss():
    baseline, dvml = tiny_model(dvml=False), tiny_model(dvml=True)
    assert ([v.shape for v in baseline.trainable_variables]
            == [v.shape for v in dvml.trainable_variables])
    images, labels = tiny_batch()
    terms = baseline.compute_losses(images, labels, 0, training=True)
    for name in ("kl_loss", "reconstruction_loss", "synthesized_metric_loss"):
        assert float(terms[name]) == 0.0
    assert float(terms["loss"]) == float(terms["metric_loss"]) > 0
    frozen = {f: _weights(baseline, f) for f in ("mu/", "log_var/", "decoder")}
    z_before = _weights(baseline, "z_invariant/")
    baseline.train_step((images, labels))
    for fragment, before in frozen.items():
        for old, new in zip(before, _weights(baseline, fragment)):
            np.testing.assert_array_equal(old, new)
    assert any(not np.array_equal(o, n) for o, n in zip(z_before, _weights(baseline,
                                                                           "z_invariant/")))


def test_samples_are_t_independent_reparameterised_draws():
    model = tiny_model(num_samples=200)
    mu_layer = model.encoder.get_layer("mu")
    log_var_layer = model.encoder.get_layer("log_var")
    mu_layer.set_weights([np.zeros((256, 8), np.float32), np.full(8, 0.5, np.float32)])
    log_var_layer.set_weights([np.zeros((256, 8), np.float32), np.full(8, np.log(0.09),
                                                                          np.float32)])
    captured = []
    decoder = model.decoder
    model.decoder = lambda samples: captured.append(samples) or decoder(samples)
    images, labels = tiny_batch()
    z_invariant = model(images).numpy()
    model.compute_losses(images, labels, 0, training=False)
    samples = captured[0].numpy().reshape(200, len(images), 8) - z_invariant[None]
    assert samples.mean() == pytest.approx(0.5, abs=0.01)
    assert samples.std(axis=0).mean() == pytest.approx(0.3, abs=0.02)
    # Different draws for every t: no sample repeats another.
    assert len(np.unique(samples[:, 0, 0])) == 200


def test_synthesized_metric_loss_averages_the_first_samples():
    model = tiny_model(num_samples=5, synthesized_in_metric=3)
    captured = []
    decoder = model.decoder
    model.decoder = lambda samples: captured.append(samples) or decoder(samples)
    images, labels = tiny_batch()
    terms = model.compute_losses(images, labels, 0, training=False)
    samples = tf.reshape(captured[0], [5, len(images), 8])
    by_sample = [float(model.metric_loss.fn(samples[t], labels)) for t in range(5)]
    assert float(terms["synthesized_metric_loss"]) == pytest.approx(np.mean(by_sample[:3]),
                                                                    rel=1e-5)
    assert not np.isclose(np.mean(by_sample[:3]), by_sample[0])


def test_embed_is_unit_norm_z_invariant():
    model = tiny_model()
    images, _ = tiny_batch()
    embedded = model.embed(images).numpy()
    np.testing.assert_allclose(np.linalg.norm(embedded, axis=1), 1.0, rtol=1e-5)
    z = model(images).numpy()
    np.testing.assert_allclose(embedded, z / np.linalg.norm(z, axis=1, keepdims=True), rtol=1e-5)
