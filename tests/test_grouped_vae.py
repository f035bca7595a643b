"""Grouped-identity VAE (Tan, Pal & Courville): KL terms against the closed form, the set encoder's
invariances, the importance-sampled log p(x | w) against an exact linear-Gaussian case, saving,
and a short training on real LFW faces at 32×32."""
from __future__ import annotations

import json
from pathlib import Path

import keras
import numpy as np
import pytest
from scipy.special import logsumexp, softmax
from scipy.stats import multivariate_normal

from facelab.data.preprocess import PreprocessConfig, preprocess_files
from facelab.evaluation import vae_few_shot
from facelab.evaluation.report import few_shot_markdown
from facelab.generative import fewshot
from facelab.generative.figures import identity_means, identity_samples, paper_figures, z_interpolation
from facelab.generative.grouped_vae import GroupedVAE, gaussian_kl, save_model, to_unit, train_on_groups

SIZE = 32
PEOPLE, PER_PERSON = 24, 6


@pytest.fixture(scope="module")
def faces(lfw):
    """``PER_PERSON`` real 32×32 faces of each of ``PEOPLE`` View 1 training people, ``(P, K, 32, 32, 1)``."""
    (train_people,) = lfw.people_folds("view1-train")
    counts = np.array([len(lfw.people_indices([p])) for p in train_people])
    chosen = [p for p, c in zip(train_people, counts) if c >= PER_PERSON][:PEOPLE]
    index = np.concatenate([lfw.people_indices([p])[:PER_PERSON] for p in chosen])
    paths = [lfw.layout.images[i].path for i in index]
    images, _ = preprocess_files(paths, PreprocessConfig(size=SIZE, crop=(112, 112)), progress=False, workers=2)
    return images.reshape(PEOPLE, PER_PERSON, SIZE, SIZE, 1)


def small_model(**kw):
    return GroupedVAE((SIZE, SIZE, 1), w_dim=8, z_dim=4, feature_dim=64, hidden=64, filters=8, **kw)


def np_kl(mu_q, sd_q, mu_p, sd_p):
    """KL(N(μq, σq²) ‖ N(μp, σp²)) = log(σp/σq) + (σq² + (μq − μp)²) / (2σp²) − ½, summed."""
    return np.sum(np.log(sd_p / sd_q) + (sd_q ** 2 + (mu_q - mu_p) ** 2) / (2 * sd_p ** 2) - 0.5, axis=-1)


# -- KL terms ----------------------------------------------------------------------------------
def test_keras_ops_gaussians_equal_tfp_for_backends_without_it():
    """Under JAX (no TensorFlow) the model uses these two formulas instead of tfp.distributions."""
    import tensorflow_probability as tfp

    from facelab.generative.grouped_vae import gaussian_kl_ops, gaussian_log_density_ops

    rng = np.random.default_rng(3)
    mu_q, mu_p, x = (rng.normal(size=(5, 7)).astype(np.float32) for _ in range(3))
    sd_q, sd_p = (rng.uniform(0.05, 3.0, size=(5, 7)).astype(np.float32) for _ in range(2))
    tfd = tfp.distributions
    np.testing.assert_allclose(keras.ops.convert_to_numpy(gaussian_kl_ops(mu_q, sd_q, mu_p, sd_p)),
                               tfd.kl_divergence(tfd.Normal(mu_q, sd_q), tfd.Normal(mu_p, sd_p)).numpy(),
                               rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(gaussian_log_density_ops(x, mu_q, sd_q)),
                               tfd.Normal(mu_q, sd_q).log_prob(x).numpy(), rtol=1e-5, atol=1e-5)


def test_training_and_scoring_run_under_keras_on_jax(faces, tmp_path):
    """The GPU machine has no TensorFlow: the same model trains there with a stateless JAX step (jitted)."""
    import subprocess
    import sys

    np.savez(tmp_path / "faces.npz", faces=faces[:12])
    script = """
import json, sys, numpy as np, keras
from facelab.data.preprocess import PreprocessConfig
from facelab.generative import fewshot
from facelab.generative.grouped_vae import GroupedVAEMethod, to_unit
faces = np.load(sys.argv[1])["faces"]
p, k = faces.shape[:2]
images, labels = faces.reshape(-1, *faces.shape[2:]), np.repeat(np.arange(p), k)
kw = dict(epochs=3, w_dim=8, z_dim=4, filters=8, group_size=4, batch_groups=4, kl_warmup_epochs=1,
          run_dir=sys.argv[2], tensorboard=False)
m = GroupedVAEMethod(PreprocessConfig(size=32, crop=(112, 112)), **kw)
m.fit(images, labels)
again = GroupedVAEMethod(PreprocessConfig(size=32, crop=(112, 112)), **kw).fit(images, labels)  # from the checkpoint
w = keras.ops.convert_to_numpy(m.model_.q_w(to_unit(faces[:3, :4]))[0])
est = fewshot.importance_log_px(m.model_, to_unit(faces[:3, 5]), w, k=4)
held_out = m.model_.evaluate(to_unit(faces[:, :4]), batch_size=4, verbose=0, return_dict=True)
print("RESULT " + json.dumps({"backend": keras.backend.backend(), "history": m.history_, "evaluate": held_out,
                              "embed": m.embed(images[:6]).tolist(), "est": est.tolist(),
                              "again": {"resumed_from": again.training_.resumed_from, "epochs_run": again.training_.epochs_run,
                                        "history": again.history_, "embed": again.embed(images[:6]).tolist()}}))
"""
    from deep_helpers import jax_process_env

    run = subprocess.run([sys.executable, "-c", script, str(tmp_path / "faces.npz"), str(tmp_path / "run")],
                         capture_output=True, text=True, env=jax_process_env(), timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    res = json.loads(next(ln for ln in run.stdout.splitlines() if ln.startswith("RESULT "))[len("RESULT "):])
    history = res["history"]
    assert res["backend"] == "jax" and len(history["loss"]) == 3
    assert np.all(np.isfinite(history["loss"])) and history["nll"][-1] < history["nll"][0]
    assert history["beta"][0] < 1.0 and history["beta"][-1] == 1.0  # the warm-up reads the optimiser's step
    assert history["kl_w"][-1] > 0 and history["kl_z"][-1] > 0
    assert np.asarray(res["embed"]).shape == (6, 8) and np.all(np.isfinite(res["embed"]))
    assert np.all(np.isfinite(res["est"]))
    ev = res["evaluate"]  # the stateless test step: the negative ELBO at β = 1
    assert ev["beta"] == 1.0 and np.isclose(ev["loss"], ev["nll"] + ev["kl_w"] + ev["kl_z"], rtol=1e-4)
    # the finished run's checkpoint (written from the stateless step's state) restores the same network
    again = res["again"]
    assert again["resumed_from"] == [3, 0] and again["epochs_run"] == 0 and again["history"] == history
    np.testing.assert_array_equal(again["embed"], res["embed"])


def test_gaussian_kl_matches_closed_form():
    rng = np.random.default_rng(0)
    mu_q, mu_p = rng.normal(size=(2, 7, 5))
    sd_q, sd_p = rng.uniform(0.2, 2.0, size=(2, 7, 5))
    got = keras.ops.convert_to_numpy(gaussian_kl(*(a.astype(np.float32) for a in (mu_q, sd_q, mu_p, sd_p))))
    np.testing.assert_allclose(got, np_kl(mu_q, sd_q, mu_p, sd_p), rtol=1e-5, atol=1e-5)
    assert np.allclose(keras.ops.convert_to_numpy(gaussian_kl(mu_q, sd_q, mu_q, sd_q)), 0, atol=1e-6)


def test_loss_kl_terms_match_closed_form_on_the_model_outputs(faces):
    model = small_model(seed=3)
    groups = to_unit(faces[:5, :4])
    t = model.loss_terms(groups, details=True)
    c = lambda a: keras.ops.convert_to_numpy(a).astype(np.float64)
    kl_w = np_kl(c(t["mu_w"]), c(t["sd_w"]), 0.0, 1.0)  # p(w) = N(0, I)
    kl_z = np_kl(*map(c, t["q_z"]), *map(c, t["p_z"])).reshape(5, 4).sum(1)  # Σ_i over the group
    np.testing.assert_allclose(c(t["per_group"]["kl_w"]), kl_w, rtol=1e-4)
    np.testing.assert_allclose(c(t["per_group"]["kl_z"]), kl_z, rtol=1e-4)
    assert float(t["kl_w"]) == pytest.approx(kl_w.mean(), rel=1e-4)
    assert float(t["kl_z"]) == pytest.approx(kl_z.mean(), rel=1e-4)
    # the reconstruction term is −Σ_i log N(x_i; decoder mean, σ²) at the sampled w, z_i
    mean = c(model.decode(np.repeat(c(t["w"]), 4, 0).astype(np.float32), t["z"]))
    sigma = float(model.sigma())
    x = groups.reshape(20, -1).astype(np.float64)
    nll = -np.sum(-0.5 * ((x - mean.reshape(20, -1)) / sigma) ** 2 - np.log(sigma) - 0.5 * np.log(2 * np.pi), 1)
    np.testing.assert_allclose(c(t["per_group"]["nll"]), nll.reshape(5, 4).sum(1), rtol=1e-4)


def test_kl_warmup_rises_linearly_to_one(faces):
    model = small_model(kl_warmup_steps=4, kl_start=0.2)
    model.compile(optimizer=keras.optimizers.Adam(1e-3))
    betas = []
    for step in range(6):
        model.optimizer.iterations.assign(step)
        betas.append(float(model.kl_weight()))
    np.testing.assert_allclose(betas, [0.2, 0.4, 0.6, 0.8, 1.0, 1.0], atol=1e-6)
    assert float(small_model().kl_weight()) == 1.0


# -- the set encoder ---------------------------------------------------------------------------
def test_set_encoder_is_permutation_invariant_and_takes_any_group_size(faces):
    model = small_model(seed=1)
    rng = np.random.default_rng(0)
    for n in (1, 2, 3, 6):
        groups = to_unit(faces[:4, :n])
        mu, sd = (keras.ops.convert_to_numpy(a) for a in model.q_w(groups))
        assert mu.shape == sd.shape == (4, 8) and np.all(sd > 0)
        mu_perm = keras.ops.convert_to_numpy(model.q_w(groups[:, rng.permutation(n)])[0])
        np.testing.assert_allclose(mu_perm, mu, atol=1e-5)
    # it is a mean over the group: a group of three copies of one image is that image alone
    one = to_unit(faces[:4, :1])
    np.testing.assert_allclose(keras.ops.convert_to_numpy(model.q_w(np.repeat(one, 3, axis=1))[0]),
                               keras.ops.convert_to_numpy(model.q_w(one)[0]), atol=1e-5)
    # … and not a function of the first image only
    assert not np.allclose(keras.ops.convert_to_numpy(model.q_w(to_unit(faces[:4, :3]))[0]),
                           keras.ops.convert_to_numpy(model.q_w(one)[0]), atol=1e-3)
    with pytest.raises(ValueError, match="at least one image"):
        model.q_w(np.zeros((2, 0, SIZE, SIZE, 1), np.float32))
    with pytest.raises(ValueError, match=r"\(B, N, H, W, C\)"):
        model.q_w(to_unit(faces[0]))


def test_bad_configuration_is_named():
    with pytest.raises(ValueError, match="image_shape"):
        GroupedVAE((48, 48, 1))
    with pytest.raises(ValueError, match="likelihood_sigma"):
        GroupedVAE((32, 32, 1), likelihood_sigma=0.0)
    with pytest.raises(ValueError, match="uint8"):
        to_unit(np.zeros((1, 32, 32, 1), np.float32))


# -- importance sampling (eqs. 6–8) ------------------------------------------------------------
class LinearGaussian:
    """p(z|w) = N(Aw + a, diag s²), p(x|z,w) = N(Bz + Cw, σ² I): then p(x|w) is Gaussian in closed
    form. q(z|x,w) is a deliberately imperfect diagonal Gaussian (shifted, widened posterior)."""

    def __init__(self, seed=0, w_dim=2, z_dim=3, x_dim=5, sigma=0.7):
        rng = np.random.default_rng(seed)
        self.A, self.B, self.C = rng.normal(size=(z_dim, w_dim)), rng.normal(size=(x_dim, z_dim)), rng.normal(size=(x_dim, w_dim))
        self.a, self.s, self.sigma = rng.normal(size=z_dim), rng.uniform(0.5, 1.5, z_dim), sigma

    def features(self, x):
        return np.asarray(x, np.float64)

    def p_z(self, w):
        w = np.asarray(w, np.float64)
        return w @ self.A.T + self.a, np.broadcast_to(self.s, (len(w), len(self.s)))

    def _posterior(self, x, w):
        prec = np.diag(self.s ** -2) + self.B.T @ self.B / self.sigma ** 2
        cov = np.linalg.inv(prec)
        mu_p, _ = self.p_z(w)
        mean = (mu_p * self.s ** -2 + (x - w @ self.C.T) @ self.B / self.sigma ** 2) @ cov
        return mean, np.sqrt(np.diag(cov))

    def q_z(self, h, w):
        mean, sd = self._posterior(h, np.asarray(w, np.float64))
        return mean + 0.3 * sd, np.broadcast_to(1.3 * sd, mean.shape)

    def log_px(self, x, w, z):
        mean = np.asarray(z, np.float64) @ self.B.T + np.asarray(w, np.float64) @ self.C.T
        return multivariate_normal(np.zeros(mean.shape[1]), self.sigma ** 2 * np.eye(mean.shape[1])).logpdf(x - mean)

    def exact_log_px(self, x, w):
        mean = (w @ self.A.T + self.a) @ self.B.T + w @ self.C.T
        cov = self.B @ np.diag(self.s ** 2) @ self.B.T + self.sigma ** 2 * np.eye(self.B.shape[0])
        return np.array([multivariate_normal(m, cov).logpdf(xi) for m, xi in zip(mean, x)])


def test_log_mean_exp_is_stable_and_matches_scipy():
    a = np.random.default_rng(0).normal(size=(6, 50)) * 30 - 2000  # exp underflows to 0 naively
    np.testing.assert_allclose(fewshot.log_mean_exp(a, axis=1), logsumexp(a, axis=1) - np.log(50), rtol=1e-12)
    assert np.all(np.isfinite(fewshot.log_mean_exp(a, axis=1)))
    lp = np.random.default_rng(1).normal(size=(4, 7)) * 5
    post = fewshot.identity_posterior(lp - 1e4)  # eq. 8 is invariant to a shift shared by a row
    np.testing.assert_allclose(post, softmax(lp, axis=1), rtol=1e-10)
    np.testing.assert_allclose(post.sum(1), 1.0)


def test_importance_sampling_approaches_the_exact_marginal_likelihood():
    toy = LinearGaussian()
    rng = np.random.default_rng(5)
    w = rng.normal(size=(4, 2))
    mu_z, sd_z = toy.p_z(w)
    z = mu_z + sd_z * rng.normal(size=mu_z.shape)
    x = z @ toy.B.T + w @ toy.C.T + toy.sigma * rng.normal(size=(4, 5))
    exact = toy.exact_log_px(x, w)
    est, log_w = fewshot.importance_log_px(toy, x, w, k=8, seed=0, return_log_weights=True)
    assert log_w.shape == (4, 8) and np.all(np.isfinite(est))
    # log-mean-exp of the weights lies between (max − log K) and the max
    assert np.all(est <= log_w.max(1) + 1e-12) and np.all(est >= log_w.max(1) - np.log(8) - 1e-12)
    est, log_w = fewshot.importance_log_px(toy, x, w, k=50000, seed=1, return_log_weights=True)
    weights = np.exp(log_w - log_w.max(1, keepdims=True))
    se = weights.std(1) / weights.mean(1) / np.sqrt(50000)  # delta-method standard error of the log estimate
    assert np.all(se < 0.01), se
    assert np.all(np.abs(est - exact) < 4 * se + 1e-6), (est - exact, se)  # within 4 standard errors
    one_sample = np.abs(fewshot.importance_log_px(toy, x, w, k=1, seed=1) - exact)
    assert np.abs(est - exact).max() < one_sample.max() / 5  # far closer than a single sample
    # the score matrix is the same estimator, column by column
    mat = fewshot.log_px_matrix(toy, x, w[:2], k=16, seed=2)
    for c in range(2):
        np.testing.assert_allclose(mat[:, c], fewshot.importance_log_px(toy, x, np.repeat(w[c:c + 1], 4, 0),
                                                                        k=16, seed=2), rtol=1e-12)
    with pytest.raises(ValueError, match="one w per image"):
        fewshot.importance_log_px(toy, x, w[:3], k=4)


# -- training, saving, figures on real faces ---------------------------------------------------
class EpochGroups:
    """Test stand-in for the data layer's group sampler: a seeded shuffle of fixed groups."""

    def __init__(self, people, per_group, seed=0):
        self.index = np.arange(people * PER_PERSON).reshape(people, PER_PERSON)[:, :per_group]
        self.seed = seed

    def epoch(self, e):
        rng = np.random.default_rng([self.seed, e])
        return np.stack([rng.permutation(row) for row in self.index[rng.permutation(len(self.index))]])


@pytest.fixture(scope="module")
def trained(faces):
    model = small_model(seed=0, kl_warmup_steps=10)
    model.compile(optimizer=keras.optimizers.Adam(2e-3))
    groups = to_unit(faces[:, :4])

    def negative_elbo():  # β = 1, averaged over three draws of the noise
        terms = [model.loss_terms(groups) for _ in range(3)]
        return {k: float(np.mean([t[k] for t in terms])) for k in ("nll", "kl_w", "kl_z")}

    before = negative_elbo()
    history = train_on_groups(model, faces.reshape(-1, SIZE, SIZE, 1), EpochGroups(PEOPLE, 4), epochs=12,
                              batch_groups=8)
    after = negative_elbo()
    return model, before, after, history


def test_short_training_on_real_faces_reduces_the_loss(trained):
    model, before, after, history = trained
    assert set(history) >= {"loss", "nll", "kl_w", "kl_z", "beta"} and len(history["loss"]) == 12
    loss = lambda t: t["nll"] + t["kl_w"] + t["kl_z"]
    assert loss(after) < loss(before) - 0.3 * abs(loss(before)), (before, after)
    assert after["nll"] < before["nll"]
    assert history["beta"][0] < history["beta"][-1] == pytest.approx(1.0)
    assert np.all(np.isfinite(history["loss"]))


def test_saved_model_reloads_with_identical_outputs(trained, faces, tmp_path):
    model = trained[0]
    path = save_model(model, tmp_path / "vae.keras")
    loaded = keras.models.load_model(path)
    groups = to_unit(faces[:3, :5])
    c = keras.ops.convert_to_numpy
    for a, b in ((model(groups), loaded(groups)), (model.q_w(groups)[1], loaded.q_w(groups)[1]),
                 (model.p_z(model.q_w(groups)[0])[0], loaded.p_z(loaded.q_w(groups)[0])[0]),
                 (model.sigma(), loaded.sigma())):
        np.testing.assert_array_equal(c(a), c(b))
    assert loaded.get_config() == model.get_config()
    # the reload carries the trained weights, not the seeded initialisation
    assert not np.allclose(c(small_model(seed=0)(groups)), c(model(groups)), atol=1e-3)
    with pytest.raises(ValueError, match=".keras"):
        save_model(model, tmp_path / "vae.h5")


def test_importance_sampling_on_the_trained_model_and_figures(trained, faces):
    model = trained[0]
    x = to_unit(faces[:3, 5])  # three images not used for w
    w = keras.ops.convert_to_numpy(model.q_w(to_unit(faces[:3, :4]))[0])
    est, log_w = fewshot.importance_log_px(model, x, w, k=8, seed=0, return_log_weights=True)
    assert np.all(np.isfinite(est)) and np.all(est <= log_w.max(1) + 1e-9)
    np.testing.assert_allclose(est, logsumexp(log_w, axis=1) - np.log(8), rtol=1e-10)
    scores = fewshot.log_px_matrix(model, x, w, k=8, seed=0)
    np.testing.assert_allclose(np.diag(scores), est, rtol=1e-5)  # common random numbers per seed

    grid = z_interpolation(model, faces[0, 0], faces[1, 0], [faces[0, :4], faces[1, :4]], steps=5)
    assert grid.shape == (2, 5, SIZE, SIZE, 1) and grid.min() >= 0 and grid.max() <= 1
    decoded, averages = identity_means(model, [faces[2, :4], faces[3, :4]])
    np.testing.assert_allclose(averages[0], faces[2, :4].mean(0) / 255.0, atol=1e-6)
    assert decoded.shape == (2, SIZE, SIZE, 1)
    samples = identity_samples(model, faces[2, :4], n_samples=3, seed=0)
    assert samples.shape == (3, SIZE, SIZE, 1) and not np.allclose(samples[0], samples[1])
    np.testing.assert_array_equal(samples, identity_samples(model, faces[2, :4], n_samples=3, seed=0))
    json.dumps(model.get_config())
    import matplotlib.pyplot as plt

    figs = paper_figures(model, [faces[4, :4], faces[5, :4], faces[6, :4]], steps=4, n_samples=3)
    assert set(figs) == {"z_interpolation.png", "identity_means.png", "identity_samples.png"}
    assert len(figs["identity_means.png"].axes) == 3 * (4 + 2)  # per person: 4 images, average, decoded
    for fig in figs.values():
        plt.close(fig)
    with pytest.raises(ValueError, match="at least 2 groups"):
        paper_figures(model, [faces[4, :4]])


# -- training through facelab.nets.training.train: run folder, resume, NaN guard -----------------
#: 8 people × 4 real faces: 8 groups of 3 an epoch, 4 batches of 2 groups; β warms up over the whole run
#: (8 steps), so a resumed step weighs the KL terms as the uninterrupted run does only if β survives the resume
RUN = dict(preprocess=PreprocessConfig(size=SIZE, crop=(112, 112)), quick=True, epochs=2, w_dim=8, z_dim=4,
           filters=8, group_size=3, batch_groups=2, kl_warmup_epochs=2, checkpoint_every=1, tensorboard=False)


class Batches(keras.callbacks.Callback):
    """Counts the batches a fit trains; with ``kill_after``, the process is "killed" after that many
    (raised from the batch's end, before that batch's checkpoint is written: its step is lost, as in a kill)."""

    def __init__(self, kill_after: int | None = None):
        super().__init__()
        self.n, self.kill_after = 0, kill_after

    def on_train_batch_end(self, batch, logs=None):
        self.n += 1
        if self.n == self.kill_after:
            raise KeyboardInterrupt


def vae_run(faces, callbacks=(), **kwargs):
    from facelab.generative.grouped_vae import GroupedVAEMethod

    method = GroupedVAEMethod(**{**RUN, **kwargs})
    method.training_callbacks = lambda: list(callbacks)
    images, labels = faces[:8, :4].reshape(-1, SIZE, SIZE, 1), np.repeat(np.arange(8), 4)
    return method, images, labels


def test_a_killed_fit_resumes_mid_epoch_to_the_weights_of_an_uninterrupted_one(faces, tmp_path):
    from facelab.nets.training import CHECKPOINT, read_checkpoint_meta

    run_dir = tmp_path / "run"
    killed, images, labels = vae_run(faces, [Batches(kill_after=6)], run_dir=str(run_dir))
    with pytest.raises(KeyboardInterrupt):
        killed.fit(images, labels)
    fit_dir = Path(killed.fit_dir_)  # the method's folder for this training set, as the deep methods'
    assert fit_dir.parent == run_dir / "grouped-vae" and fit_dir.name.startswith("data-")
    meta = read_checkpoint_meta(fit_dir / CHECKPOINT)
    assert (meta["epoch"], meta["batch"]) == (1, 1)  # batch 6 = epoch 2's second: its step was lost with the kill
    assert len(json.loads((fit_dir / "history.json").read_text())["history"]["loss"]) == 1

    rest = Batches()
    resumed, _, _ = vae_run(faces, [rest], run_dir=str(run_dir))
    resumed.fit(images, labels)
    assert resumed.fit_dir_ == killed.fit_dir_ and resumed.training_.resumed_from == (1, 1)
    assert rest.n == 3  # the rest of epoch 2, not the whole run again
    saved = json.loads((fit_dir / "history.json").read_text())
    assert saved["resumed_from"] == [1, 1] and saved["history"] == resumed.history_
    assert len(resumed.history_["loss"]) == 2

    whole, _, _ = vae_run(faces)  # the same fit, uninterrupted, in a temporary folder
    whole.fit(images, labels)
    assert whole.fit_dir_ is None
    steps = lambda m: int(keras.ops.convert_to_numpy(m.model_.optimizer.iterations))  # what β is read from
    assert steps(resumed) == steps(whole) == 8
    assert resumed.history_["loss"][0] == whole.history_["loss"][0]  # the killed call's epoch, from history.json
    np.testing.assert_allclose(resumed.embed(images), whole.embed(images), atol=1e-5)

    untouched = Batches()  # a finished run: re-embedded from its checkpoint, nothing trained
    again, _, _ = vae_run(faces, [untouched], run_dir=str(run_dir))
    again.fit(images, labels)
    assert untouched.n == 0 and again.training_.epochs_run == 0 and again.history_ == resumed.history_
    np.testing.assert_array_equal(again.embed(images), resumed.embed(images))


def test_a_nan_loss_stops_the_fit_and_keeps_the_last_good_checkpoint(faces, tmp_path, monkeypatch):
    from facelab.nets.training import CHECKPOINT, TrainingDivergedError, read_checkpoint_meta

    beta = GroupedVAE.kl_weight

    def nan_from_step_5(self):  # quick fits run eagerly: the step counter can be read here
        step = int(keras.ops.convert_to_numpy(self.optimizer.iterations))
        return beta(self) * (float("nan") if step >= 5 else 1.0)

    monkeypatch.setattr(GroupedVAE, "kl_weight", nan_from_step_5)
    method, images, labels = vae_run(faces, run_dir=str(tmp_path / "run"))
    with pytest.raises(TrainingDivergedError, match=r"grouped-vae: loss became nan at epoch 1, batch 2; .*"
                                                    r"\(epoch 1, batch 1\) is kept"):
        method.fit(images, labels)
    meta = read_checkpoint_meta(Path(method.fit_dir_) / CHECKPOINT)
    assert (meta["epoch"], meta["batch"]) == (1, 1)


# -- the registered method and the few-shot experiment -----------------------------------------
def test_registered_method_fits_and_embeds_mu_w_of_one_image(faces):
    from facelab import methods
    from facelab.evaluation.protocols import FewShotSplit

    assert methods.spec("grouped-vae").kind == "generative"
    method = methods.create("grouped-vae", preprocess=PreprocessConfig(size=SIZE, crop=(112, 112)), quick=True,
                            w_dim=8, z_dim=4)
    images = faces[:12].reshape(-1, SIZE, SIZE, 1)
    labels = np.repeat(np.arange(12), PER_PERSON)
    method.fit(images, labels)
    emb = method.embed(images[:10])
    assert emb.shape == (10, 8) and emb.dtype == np.float32 and np.all(np.isfinite(emb))
    single = keras.ops.convert_to_numpy(method.model_.q_w(to_unit(images[:10])[:, None])[0])
    np.testing.assert_allclose(emb, single, atol=1e-6)
    assert method.config["name"] == "grouped-vae" and json.loads(json.dumps(method.config))["quick"] is True
    assert len(method.history_["loss"]) == method.epochs
    with pytest.raises(ValueError, match="shape"):
        method.embed(np.zeros((2, 64, 64, 1), np.uint8))

    # flip_average: μ_w of the group (face, mirror), pooled by the set encoder; the same fit, not in its key
    flipped = methods.create("grouped-vae", preprocess=PreprocessConfig(size=SIZE, crop=(112, 112)), quick=True,
                             w_dim=8, z_dim=4, flip_average=True)
    assert flipped.fit_config == method.fit_config and flipped.config["flip_average"] is True
    assert "flip_average" not in method.config
    flipped.adopt_fit(method)
    pair = np.stack([images[:10], images[:10, :, ::-1]], axis=1)  # (10, 2, H, W, 1)
    both = keras.ops.convert_to_numpy(method.model_.q_w(to_unit(pair))[0])
    np.testing.assert_allclose(flipped.embed(images[:10]), both, atol=1e-6)
    assert not np.allclose(both, single, atol=1e-4)  # the mirror changes what is pooled
    mirror = keras.ops.convert_to_numpy(method.model_.q_w(to_unit(images[:10, :, ::-1])[:, None])[0])
    np.testing.assert_allclose(flipped.embed(images[:10, :, ::-1]), both, atol=1e-5)  # a face and its mirror: one embedding
    assert not np.allclose(mirror, single, atol=1e-4)
    with pytest.raises(ValueError, match="flip_average"):  # the registry's check of the declared type
        methods.create("grouped-vae", quick=True, flip_average="yes")

    # few-shot on six unseen people: enrol up to 2 images, probe the other 4
    pos = np.arange(12 * PER_PERSON, 18 * PER_PERSON).reshape(6, PER_PERSON)
    all_images = faces[:18].reshape(-1, SIZE, SIZE, 1)
    all_labels = np.repeat(np.arange(18), PER_PERSON)
    split = FewShotSplit(np.arange(12 * PER_PERSON), [[(12 + i, row[:2], row[2:]) for i, row in enumerate(pos)]],
                         (1, 2))
    res = vae_few_shot.few_shot_accuracy(method.model_, all_images, all_labels, split, k=4, eigen_components=10,
                                    progress=False)
    assert set(res["accuracy"]) == {"vae_p_w_given_x", "vae_mu_w_ncm", "eigenfaces_ncm"}
    assert res["probes"] == 24 and res["identities"] == 6
    for rule in res["accuracy"].values():
        assert set(rule) == {"1", "2"} and all(0 <= a <= 1 and (24 * a) % 1 < 1e-9 for a in rule.values())
    assert "vae_p_w_given_x" in few_shot_markdown(res, "cmd")


def test_few_shot_results_fill_a_readme_block_with_their_own_command(tmp_path, capsys):
    from facelab.evaluation.readme_blocks import update_readme
    from facelab.evaluation.report import markdown_table

    res = {"accuracy": {"vae_p_w_given_x": {"1": 0.125, "10": 0.5}, "eigenfaces_ncm": {"1": 0.25, "10": 0.375}},
           "identities": 40, "probes": 159, "repeats": 3, "importance_samples": 8, "probes_per_person": 5,
           "device": "cpu (2 cores)", "command": "python -m facelab.evaluation.vae_few_shot --k 8"}
    (tmp_path / "results.json").write_text(json.dumps(res))
    assert "| grouped VAE, p̃(w \\| x) (eq. 8) (`vae_p_w_given_x`) | 12.50 | 50.00 |" in markdown_table(res)
    assert "chance 2.5 %" in markdown_table(res)  # 40 identities
    readme = tmp_path / "README.md"
    readme.write_text("a\n<!-- results:vae:begin -->\nold\n<!-- results:vae:end -->\nb\n")
    update_readme(readme, tmp_path / "results.json", "facelab compare", block="vae")
    text = readme.read_text()
    assert "Produced by `python -m facelab.evaluation.vae_few_shot --k 8` on cpu (2 cores)" in text
    assert "nearest class mean (cosine) (`eigenfaces_ncm`) | 25.00 | 37.50 |" in text and "old" not in text and text.endswith("b\n")
    assert "at most 5 probes per person" in text and "Grouped VAE" not in text  # title left to the README

    from facelab.cli import main

    assert main(["report", str(tmp_path / "results.json"), "--figure", str(tmp_path / "n.png")]) == 0
    assert (tmp_path / "n.png").read_bytes()[:4] == b"\x89PNG"
    (tmp_path / "compare.json").write_text(json.dumps({"methods": {}}))
    assert main(["report", str(tmp_path / "compare.json"), "--figure", str(tmp_path / "c.png")]) == 2
    assert "facelab report: error: --figure draws few-shot results" in capsys.readouterr().err
    assert not (tmp_path / "c.png").exists()
