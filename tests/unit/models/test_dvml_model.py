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
    return {v.path: 0.0 if g is None else float(tf.norm(g)) for v, g in zip(variables, grads)}


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


def test_zero_variance_heads_start_at_the_prior_with_no_kl_gradient():
    model = tiny_model(phase1_steps=10, variance_heads_init="zeros")
    images, labels = tiny_batch()
    _, mu, log_var = model.encode(images)
    np.testing.assert_array_equal(mu.numpy(), 0.0)
    np.testing.assert_array_equal(log_var.numpy(), 0.0)
    assert float(model.compute_losses(images, labels, 0)["kl_loss"]) == 0.0
    assert _norm_of(_gradient_norms(model, "kl_loss", step=0), "block") == 0  # the backbone


def test_random_variance_heads_start_away_from_the_prior_and_the_kl_trains_them():
    model = tiny_model(phase1_steps=10)
    images, labels = tiny_batch()
    _, mu, log_var = model.encode(images)
    assert np.abs(mu.numpy()).mean() > 1e-3 and np.abs(log_var.numpy()).mean() > 1e-3
    assert float(model.compute_losses(images, labels, 0)["kl_loss"]) > 0
    for step in (0, 10):  # both phases
        norms = _gradient_norms(model, "kl_loss", step=step)
        assert _norm_of(norms, "mu/kernel") > 0
        assert _norm_of(norms, "log_var/kernel") > 0
        assert _norm_of(norms, "block") > 0  # the backbone
        assert _norm_of(norms, "z_invariant/") == 0


def test_lambda_schedule_switches_at_phase1_steps():
    model = tiny_model(phase1_steps=10)
    np.testing.assert_allclose(model.lambdas(9).numpy(), [1, 1, 0.1, 1])
    np.testing.assert_allclose(model.lambdas(10).numpy(), [0.8, 1, 0.2, 0.8])


@pytest.mark.parametrize("step,lambdas", [(3, (1, 1, 0.1, 1)), (10, (0.8, 1, 0.2, 0.8))])
def test_total_is_the_weighted_sum(step, lambdas):
    model = tiny_model(phase1_steps=10)
    for head, bias in (("mu", 0.5), ("log_var", -0.5)):  # the KL well away from 0
        model.encoder.get_layer(head).bias.assign(tf.fill([8], bias))
    images, labels = tiny_batch()
    terms = model.compute_losses(images, labels, step, training=False)
    names = ("kl_loss", "reconstruction_loss", "synthesized_metric_loss", "metric_loss")
    assert all(float(terms[name]) > 0.01 for name in names)
    expected = sum(weight * float(terms[name]) for weight, name in zip(lambdas, names))
    assert float(terms["loss"]) == pytest.approx(expected, rel=1e-5)


def _weights(model, fragment):
    return [v.numpy().copy() for v in model.trainable_variables if fragment in v.path]


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


def test_synthesized_samples_are_reparameterised():
    """z = z_I + mu + sigma * eps: d z / d mu = 1, d z / d log sigma^2 = sigma * eps / 2."""
    from dvml_tf.models.dvml import synthesize

    rng = np.random.default_rng(3)
    z, mu, log_var = (tf.constant(rng.normal(size=(4, 3)).astype(np.float32))
                      for _ in range(3))
    noise = tf.constant(rng.normal(size=(5, 4, 3)).astype(np.float32))
    weights = tf.constant(rng.normal(size=(5, 4, 3)).astype(np.float32))
    with tf.GradientTape() as tape:
        tape.watch([z, mu, log_var])
        loss = tf.reduce_sum(weights * synthesize(z, mu, log_var, noise))
    d_z, d_mu, d_log_var = tape.gradient(loss, [z, mu, log_var])
    np.testing.assert_allclose(d_z, weights.numpy().sum(0), rtol=1e-5)
    np.testing.assert_allclose(d_mu, weights.numpy().sum(0), rtol=1e-5)
    sigma = np.exp(0.5 * log_var.numpy())
    np.testing.assert_allclose(d_log_var, (weights * noise).numpy().sum(0) * sigma / 2,
                               rtol=1e-5, atol=1e-6)


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
    # Independent draws for every t, image and dimension: no two share their noise.
    assert samples.std(axis=1).mean() == pytest.approx(0.3, abs=0.03)  # across images
    assert samples.std(axis=2).mean() == pytest.approx(0.3, abs=0.03)  # across dimensions
    assert len(np.unique(samples[:, 0, 0])) == 200
    assert abs(np.corrcoef(samples[:, 0, 0], samples[:, 1, 0])[0, 1]) < 0.25
    assert abs(np.corrcoef(samples[:, 0, 0], samples[:, 0, 1])[0, 1]) < 0.25


def test_synthesized_metric_loss_averages_the_first_samples():
    model = tiny_model(num_samples=5, synthesized_in_metric=3)
    captured = []
    decoder = model.decoder
    model.decoder = lambda samples: captured.append(samples) or decoder(samples)
    images, labels = tiny_batch()
    terms = model.compute_losses(images, labels, 0, training=False)
    samples = tf.reshape(captured[0], [5, len(images), 8])
    by_sample = [float(model.metric_loss.compute(samples[t], labels)) for t in range(5)]
    assert float(terms["synthesized_metric_loss"]) == pytest.approx(np.mean(by_sample[:3]),
                                                                    rel=1e-5)
    assert not np.isclose(np.mean(by_sample[:3]), by_sample[0])


@pytest.mark.parametrize("normalize", [False, True])
def test_synthesized_metric_loss_normalises_the_samples_only_when_asked(normalize):
    model = tiny_model(num_samples=2, normalize_synthesized=normalize)
    captured = []
    decoder = model.decoder
    model.decoder = lambda samples: captured.append(samples) or decoder(samples)
    images, labels = tiny_batch()
    terms = model.compute_losses(images, labels, 0, training=False)
    first = tf.reshape(captured[0], [2, len(images), 8])[0]
    raw = float(model.metric_loss.compute(first, labels))
    unit = float(model.metric_loss.compute(tf.math.l2_normalize(first, axis=-1), labels))
    assert not np.isclose(raw, unit)  # N-pair takes raw embeddings
    expected = unit if normalize else raw
    assert float(terms["synthesized_metric_loss"]) == pytest.approx(expected, rel=1e-5)


def test_embed_is_the_unit_z_invariant_head_alone():
    model = tiny_model()
    images, _ = tiny_batch()
    head = model.encoder.get_layer("z_invariant")
    features = model.backbone(images).numpy()
    z = features @ head.kernel.numpy() + head.bias.numpy()
    _, mu, _ = model.encode(images)
    assert np.abs(mu.numpy()).mean() > 1e-3  # so z_I + mu would differ
    embedded = model.embed(images).numpy()
    np.testing.assert_allclose(embedded, z / np.linalg.norm(z, axis=1, keepdims=True),
                               rtol=1e-4, atol=1e-6)


def test_synthesized_metric_loss_trains_z_invariant_and_the_backbone():
    norms = _gradient_norms(tiny_model(phase1_steps=10), "synthesized_metric_loss", step=0)
    assert _norm_of(norms, "z_invariant/kernel") > 0
    assert _norm_of(norms, "block") > 0


def test_variance_probe_gives_the_heads_and_the_synthesized_sample_the_step_trains_on():
    model = tiny_model(num_samples=3)
    captured = []
    decoder = model.decoder
    model.decoder = lambda samples: captured.append(samples) or decoder(samples)
    images, labels = tiny_batch()
    heads, synthesized, _ = model.variance_probe(images, labels, 7)
    for probed, encoded in zip(heads, model.encode(images)):
        np.testing.assert_allclose(probed.numpy(), encoded.numpy(), rtol=1e-5, atol=1e-6)
    trained_on = tf.reshape(captured[0], [3, len(images), 8])
    np.testing.assert_allclose(synthesized.numpy(), trained_on[0].numpy(), rtol=1e-5, atol=1e-6)
    other_step = model.variance_probe(images, labels, 8)[1]
    assert not np.allclose(synthesized.numpy(), other_step.numpy())


def test_term_gradient_norms_follow_the_phases():
    model = tiny_model(phase1_steps=10)
    images, labels = tiny_batch()
    phase1 = {name: [float(v) for v in norms]
              for name, norms in model.variance_probe(images, labels, 3)[2].items()}
    phase2 = {name: [float(v) for v in norms]
              for name, norms in model.variance_probe(images, labels, 10)[2].items()}
    # (on log sigma^2, on the backbone's output)
    assert phase1["reconstruction_loss"] == [0.0, 0.0]  # phase 1: the decoder alone
    assert min(phase2["reconstruction_loss"]) > 0
    assert phase1["metric_loss"][0] == 0.0 and phase1["metric_loss"][1] > 0  # z_I only
    for terms in (phase1, phase2):
        assert min(terms["kl_loss"]) > 0 and min(terms["synthesized_metric_loss"]) > 0
    # Weighted as trained: lambda1 is 1 in phase 1 and 0.8 in phase 2, the KL unchanged.
    assert phase2["kl_loss"][0] == pytest.approx(0.8 * phase1["kl_loss"][0], rel=1e-5)


@pytest.mark.parametrize("metric_loss", ["proxy_nca", "angular"])
@pytest.mark.parametrize("dvml", [True, False])
def test_new_baselines_train_with_and_without_dvml(metric_loss, dvml):
    model = tiny_model(metric_loss=metric_loss, dvml=dvml, phase1_steps=0)
    images, labels = tiny_batch()
    terms = model.compute_losses(images, labels, 0)
    assert (float(terms["synthesized_metric_loss"]) > 0) == dvml
    before = [v.numpy().copy() for v in model.trainable_variables]
    model.train_step((images, labels))
    moved = {v.path for v, old in zip(model.trainable_variables, before)
             if not np.array_equal(old, v.numpy())}
    assert any("z_invariant" in name for name in moved)
    if metric_loss == "proxy_nca":
        assert any("proxies" in name for name in moved)


@pytest.mark.parametrize("metric_loss,own_variable", [("margin_dws", "margin_dws_beta"),
                                                      ("proxy_nca", "proxy_nca_proxies"),
                                                      ("npairs", None)])
def test_every_trainable_variable_moves_in_a_step(metric_loss, own_variable):
    """Keras 3 trains only Keras variables: the loss's own (beta, the proxies) among them."""
    model = tiny_model(metric_loss=metric_loss, phase1_steps=0)
    paths = [v.path for v in model.trainable_variables]
    if own_variable:
        assert any(path.endswith(own_variable) for path in paths)
    images, labels = tiny_batch()
    before = [v.numpy().copy() for v in model.trainable_variables]
    model.train_step((tf.constant(images), tf.constant(labels)))
    still = [path for path, v, old in zip(paths, model.trainable_variables, before)
             if np.array_equal(old, v.numpy())]
    assert still == []


def test_the_decoder_is_a_tanh_layer_then_a_linear_one():
    model = tiny_model()
    samples = np.random.default_rng(2).normal(size=(5, 8)).astype(np.float32)
    hidden, output = (model.decoder.get_layer(name) for name in ("decoder_hidden",
                                                                  "decoder_output"))
    expected = (np.tanh(samples @ hidden.kernel.numpy() + hidden.bias.numpy())
                @ output.kernel.numpy() + output.bias.numpy())
    np.testing.assert_allclose(model.decoder(samples).numpy(), expected, rtol=1e-5, atol=1e-5)


def test_the_step_after_a_skipped_one_is_the_next_step_not_the_skipped_one_again():
    """steps_taken counts a skipped step, so the next step runs as step 1: phase 2's
    lambdas and its own random draws (the optimizer's iterations would say 0 again)."""
    model = tiny_model(dvml=True, phase1_steps=1, metric_loss="triplet_semihard")
    images, labels = tiny_batch()
    broken = images.copy()
    broken[0, 0, 0, 0] = np.nan
    model.train_step((tf.constant(broken), tf.constant(labels)))
    as_step_1 = float(model.compute_losses(tf.constant(images), tf.constant(labels), 1)["loss"])
    as_step_0 = float(model.compute_losses(tf.constant(images), tf.constant(labels), 0)["loss"])
    assert abs(as_step_1 - as_step_0) > 1e-3
    logs = model.train_step((tf.constant(images), tf.constant(labels)))
    assert float(logs["loss"]) == pytest.approx(as_step_1, rel=1e-5)
