"""The paper's Table 4 statistics and the variance branch's state, on data whose answer
is known by construction."""
import numpy as np
import pytest
from scipy import stats

from dvml_tf.evaluation import diagnostics
from dvml_tf.evaluation.diagnostics import (
    class_centres,
    embedding_diagnostics,
    ks_p_values,
    relative_deviation,
    synthesized_samples,
    variance_branch,
)

RNG = np.random.default_rng(5)


def _classes(noise, classes=6, per_class=60, dim=16):
    labels = np.repeat(np.arange(classes), per_class)
    centres = RNG.normal(size=(classes, dim)) * 5
    # Spread 3 per dimension: the test must standardise before comparing with N(0, 1).
    return centres[labels] + 3 * noise(size=(len(labels), dim)), labels


def test_class_centres_are_each_rows_class_mean():
    x = np.array([[0.0, 0], [2, 2], [10, 0]])
    np.testing.assert_allclose(class_centres(x, np.array([1, 1, 7])), [[1, 1], [1, 1], [10, 0]])


def test_gaussian_central_features_pass_and_uniform_ones_do_not():
    gaussian = ks_p_values(*_classes(RNG.normal))
    uniform = ks_p_values(*_classes(RNG.uniform))
    assert len(gaussian) == 6
    # With estimated mean and deviation a Gaussian's p-values average ~0.78 (module doc).
    assert 0.7 < gaussian.mean() < 0.85
    assert uniform.mean() < gaussian.mean() - 0.2


def test_relative_deviation_by_hand():
    x = np.array([[1.0, 1], [1, -1], [0, 3], [0, 5]])  # centres (1, 0) and (0, 4)
    labels = np.array([0, 0, 1, 1])
    # class 0: mean distance 1 over |centre| 1; class 1: 1 over 4.
    assert relative_deviation(x, labels) == pytest.approx(100 * (1 + 0.25) / 2)


def test_variance_branch_tells_class_independent_mu_from_class_coding_mu():
    labels = np.repeat(np.arange(10), 20)
    independent = RNG.normal(size=(200, 8))
    coding = np.eye(8)[labels % 8] * 3 + RNG.normal(size=(200, 8)) * 0.01
    assert variance_branch(independent, np.zeros((200, 8)), labels)[
        "mu_between_class_share"] < 0.15
    assert variance_branch(coding, np.zeros((200, 8)), labels)["mu_between_class_share"] > 0.99


def test_active_units_count_dimensions_whose_mu_varies_over_images():
    mu = np.zeros((50, 6))
    mu[:, :2] = RNG.normal(size=(50, 2))  # two active units
    mu[:, 2] = 0.05 * RNG.normal(size=50)  # variance 0.0025: inactive
    state = variance_branch(mu, np.log(np.full((50, 6), 0.25)), np.arange(50) % 5)
    assert state["active_units"] == 2
    assert state["sigma_mean"] == pytest.approx(0.5)


def test_diagnostics_report_the_variance_branch_for_dvml_only():
    x, labels = _classes(RNG.normal)
    zeros = np.zeros_like(x)
    dvml = embedding_diagnostics(x, labels, (x, zeros, zeros))
    assert {"variance_branch", "synthesized_samples"} <= set(dvml)
    baseline = embedding_diagnostics(x, labels)
    assert "variance_branch" not in baseline and baseline["ks_classes"] == 6


def _separated_classes(classes=5, per_class=40, dim=32):
    """Unit-ish class directions far apart, with a little spread: every real embedding is
    nearest its own class centre."""
    labels = np.repeat(np.arange(classes), per_class)
    directions = np.eye(dim)[:classes] * 4
    return directions[labels] + 0.3 * RNG.normal(size=(len(labels), dim)), labels


def test_synthesized_samples_stay_with_their_class_when_sigma_is_small():
    z, labels = _separated_classes()
    small = synthesized_samples(z, np.zeros_like(z), np.full_like(z, np.log(0.01 ** 2)),
                                labels)
    assert small["nearest_centre_own_class_real"] == 1.0
    assert small["nearest_centre_own_class_synthesized"] == 1.0
    assert small["cosine_to_z_invariant_mean"] > 0.99
    assert small["noise_norm_mean"] == pytest.approx(0.01 * np.sqrt(31.5), rel=0.1)


def test_synthesized_samples_leave_their_class_when_the_noise_outweighs_z_invariant():
    z, labels = _separated_classes()
    # sigma 6 in 32 dimensions: noise of norm ~34 against |z_I| ~4.3.
    large = synthesized_samples(z, np.zeros_like(z), np.full_like(z, np.log(36.0)), labels)
    assert large["nearest_centre_own_class_real"] == 1.0
    assert large["nearest_centre_own_class_synthesized"] < 0.5
    assert large["cosine_to_z_invariant_mean"] < 0.25
    assert large["z_invariant_norm_mean"] == pytest.approx(
        np.linalg.norm(z, axis=1).mean())
    # mu moves every sample: a mu pointing at class 0 pulls the others' samples there.
    towards_zero = np.zeros_like(z)
    towards_zero[:, 0] = 8.0
    moved = synthesized_samples(z, towards_zero, np.full_like(z, np.log(0.01 ** 2)), labels)
    assert moved["nearest_centre_own_class_synthesized"] == pytest.approx(0.2)


def test_synthesized_samples_probe_a_capped_subset(monkeypatch):
    monkeypatch.setattr(diagnostics, "SYNTHESIS_PROBE_IMAGES", 30)
    monkeypatch.setattr(diagnostics, "NEAREST_CENTRE_CHUNK", 7)
    z, labels = _separated_classes()
    capped = synthesized_samples(z, np.zeros_like(z), np.full_like(z, np.log(0.01 ** 2)),
                                 labels)
    assert capped["nearest_centre_own_class_synthesized"] == 1.0


def test_ks_p_values_by_hand():
    # Class 0 in two dimensions; class 1 has two images and is left out (fewer than 3).
    x = np.array([[1.0, 0], [2, 3], [4, 6], [9, 9], [9, 8]])
    labels = np.array([0, 0, 0, 1, 1])
    # dimension 0: central -4/3, -1/3, 5/3, deviation sqrt(7/3); dimension 1: -3, 0, 3, sd 3.
    first = np.array([-4, -1, 5]) / 3 / np.sqrt(7 / 3)
    second = np.array([-1.0, 0, 1])
    expected = (stats.kstest(first, "norm").pvalue + stats.kstest(second, "norm").pvalue) / 2
    np.testing.assert_allclose(ks_p_values(x, labels), [expected])
    report = embedding_diagnostics(x, labels)
    assert report["ks_classes"] == 1 and report["ks_p_value_mean"] == pytest.approx(expected)


def test_variance_branch_by_hand():
    mu = np.array([[1.0, 0], [3, 0], [0, 2], [0, 4]])
    labels = np.array([0, 0, 1, 1])
    sigma = np.array([[1.0, 3], [3, 5], [1, 3], [3, 5]])  # per dimension: mean 2 and 4
    log_var = np.log(sigma ** 2)
    # Var(mu) per dimension 1.5 and 2.75; the centres (2, 0), (0, 3) vary 1 and 2.25.
    assert variance_branch(mu, log_var, labels) == pytest.approx({
        "sigma_mean": 3.0, "sigma_min_dimension": 2.0, "sigma_max_dimension": 4.0,
        "mu_norm_mean": 2.5, "active_units": 2, "mu_between_class_share": 3.25 / 4.25})


def test_synthesized_samples_by_hand():
    z = np.array([[2.0, 0], [1, 1], [0, 3], [0, 1]])
    labels = np.array([0, 0, 1, 1])
    mu = np.tile([0.0, 5.0], (4, 1))  # moves every sample towards class 1's direction
    tiny = np.full_like(z, -80.0)  # sigma e^-40: no noise to speak of
    report = synthesized_samples(z, mu, tiny, labels)
    # The samples (2, 5), (1, 6), (0, 8), (0, 6): class 0's both nearest class 1's centre.
    assert report == pytest.approx({
        "z_invariant_norm_mean": (2 + np.sqrt(2) + 3 + 1) / 4,
        "noise_norm_mean": 0.0,
        "cosine_to_z_invariant_mean": (2 / np.sqrt(29) + 7 / np.sqrt(74) + 1 + 1) / 4,
        "nearest_centre_own_class_real": 1.0,
        "nearest_centre_own_class_synthesized": 0.5}, abs=1e-8)


def test_ks_p_values_equal_scipys_kstest_class_by_class():
    sizes = RNG.integers(1, 13, 60)
    labels = RNG.permutation(np.repeat(np.arange(60), sizes))
    x = RNG.normal(size=(len(labels), 6)) * RNG.uniform(0.5, 3, 6)
    x[labels == labels[0], 2] = 7.0  # a class with a dimension of no spread
    expected = []
    for label in np.unique(labels):
        members = x[labels == label] - x[labels == label].mean(0)
        if len(members) >= 3:
            spread = members.std(0, ddof=1)
            expected.append(np.mean([stats.kstest(column / sd, "norm").pvalue
                                     for column, sd in zip(members.T, spread) if sd > 0]))
    np.testing.assert_allclose(ks_p_values(x, labels), expected, rtol=1e-10)
