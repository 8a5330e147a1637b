"""Evaluation of a generator: the literature's numbers and the pictures researchers look at.

`Evaluator(config, spec, workdir)` turns a GANState into a JSON-ready dict of metrics
and a few plots. It runs during training (every `log.eval_every` steps) and from a
checkpoint (`launch.py --mode=eval`); both write WORKDIR/eval/step_N.json and the
same plots. Setup that does not depend on the state (reference data, a classifier,
the evaluation latents) happens once, so evaluating during training stays cheap.

What is measured (the maths lives in jaxgan/metrics.py, pure and tested there):

- Toy 2D sets. 8gaussians / 25gaussians: the mode-coverage protocol of Srivastava et
  al. 2017 (VEEGAN) after Metz et al. 2017 (Unrolled GAN): `eval.num_samples` (2,500)
  samples; high quality = within `eval.hq_sigmas` (3) standard deviations of the
  nearest mode; modes covered (>= 1 HQ sample, and the stricter >= 1% of samples);
  % HQ; KL of the HQ mode histogram from uniform. All three toy sets: the sliced
  Wasserstein distance (and, if `eval.mmd_bandwidths` is set, the RBF MMD^2) against
  fresh real samples. A second real set of the same size is scored the same way once
  per run ("real_data_reference"): what a perfect generator gets at this sample size.
- Labelled image datasets (digits, mnist, fashion_mnist, cifar10): a small classifier
  trained once on the real training split (jaxgan/classifier.py, cached under
  `eval.classifier_dir`) gives classes covered, the KL of the predicted class
  histogram from the real one, the mean max-probability, and the Frechet distance and
  KID (unbiased, with its standard error) on its penultimate features against the
  real held-out split. The keys carry the feature extractor's name
  ("fd_digits_classifier"): they are not FID and are not comparable with published FIDs.
- Class-conditional runs on those datasets: samples are generated for the classes in
  turn (sample i for class i mod K), and the classifier adds how often it sees the
  class asked for (requested_class_accuracy, overall, per class and the worst class)
  and the per-class Frechet distance of its features, class-k samples against the
  class-k held-out images (intra_fd_<extractor>, the mean over classes and each;
  Miyato & Koyama 2018's intra-FID, on this classifier's features). The real-data
  reference scores real training images under their own labels the same way.
- Any image dataset, when `eval.inception_weights` names pytorch-fid's weights file:
  the FID Inception-v3 metrics (jaxgan/inception.py) of `eval.inception_num_samples`
  generated images against the whole training split, whose statistics are computed
  once and cached beside the classifier: fid_inception_v3, is_inception_v3 (and its
  std over `eval.is_splits` splits), kid_inception_v3 (+ stderr), and precision /
  recall / density / coverage (k = `eval.prdc_k`) against `eval.inception_real_features`
  real images. These are comparable with published numbers at equal sample counts.
- With a generator EMA (`ema.enabled`), every number is reported for the raw and the
  EMA generator, side by side and labelled.

Generated samples come from latents fixed by the seed (a stream of their own), so two
evaluations of the same run differ only through the generator.
"""

from __future__ import annotations

import json
import logging
import math
import os
import re
import time

import jax
import numpy as np

from jaxgan import inception as inception_lib
from jaxgan import metrics as metrics_lib
from jaxgan import population as population_lib
from jaxgan import sample as sample_lib
from jaxgan import train as train_lib
from jaxgan.data import toy as toy_data

logger = logging.getLogger("jaxgan")

# Stream ids (rng.stream_key; numpy draws seed with [seed, stream]): evaluation latents and reference draws are
# disjoint from the training stream and from the sample-grid latents.
_EVAL_LATENT_STREAM = 0xE7A1
_EVAL_DATA_STREAM = 0xE7A2
# Generator forward passes per jitted call while drawing evaluation samples.
_GENERATE_CHUNK = 1000
# Resolution of the critic's contour plot over the plane (points per axis).
_CONTOUR_POINTS = 120


# --- Toy metrics ---------------------------------------------------------------------


def toy_metrics(name: str, samples: np.ndarray, real: np.ndarray, *, hq_sigmas: float,
                strict_fraction: float, num_projections: int, mmd_bandwidths,
                seed: int) -> dict:
  """The toy-set numbers for `samples` [N, 2] of dataset `name`.

  Args:
    name: one of jaxgan.data.toy.TOY_DATASETS.
    samples: generated points [N, 2].
    real: fresh real points, the reference for the distances.
    hq_sigmas, strict_fraction: see metrics.toy_mode_metrics.
    num_projections: directions of the sliced Wasserstein estimate.
    mmd_bandwidths: RBF length scales of the MMD kernel; () skips the MMD.
    seed: fixes the projections, so every evaluation uses the same ones.

  Returns:
    A flat dict of Python numbers: the mode metrics (8gaussians, 25gaussians only),
    sliced_wasserstein, and mmd_rbf when mmd_bandwidths is not empty.
  """
  out = {}
  if name in ("8gaussians", "25gaussians"):
    out.update(metrics_lib.toy_mode_metrics(
        samples, toy_data.modes(name), toy_data.mode_std(name), hq_sigmas=hq_sigmas,
        strict_fraction=strict_fraction))
  out["sliced_wasserstein"] = metrics_lib.sliced_wasserstein(
      samples, real, num_projections=num_projections, rng=seed)
  if mmd_bandwidths:
    out["mmd_rbf"] = metrics_lib.mmd_rbf(samples, real, bandwidths=mmd_bandwidths)
  return out


# --- Drawing samples ------------------------------------------------------------------


def eval_latents(seed: int, num: int, z_dim: int):
  """The evaluation latents [num, z_dim]: fixed by the seed, disjoint from training's."""
  return sample_lib.stream_latents(seed, _EVAL_LATENT_STREAM, num, z_dim)


def eval_labels(num: int, num_classes: int) -> np.ndarray:
  """The classes asked of a conditional generator in evaluation: sample i gets i mod K."""
  return (np.arange(num) % num_classes).astype(np.int32)


def generate(spec: train_lib.StepSpec, state: train_lib.GANState, z, *,
             use_ema: bool, labels=None) -> np.ndarray:
  """Generator outputs (eval mode) for all of z (classes `labels` if conditional), in
  chunks, as one host array."""
  chunks = [sample_lib.generate_samples(
      spec, state, z[i:i + _GENERATE_CHUNK], use_ema=use_ema,
      labels=None if labels is None else labels[i:i + _GENERATE_CHUNK])
            for i in range(0, z.shape[0], _GENERATE_CHUNK)]
  return np.concatenate(chunks)


def critic_scores(spec: train_lib.StepSpec, state: train_lib.GANState,
                  points: np.ndarray) -> np.ndarray:
  """The critic's value at each of `points` [N, ...] as a host array [N]."""
  return np.asarray(_critic_apply(spec, state.critic_params, state.critic_spectral, points),
                    np.float64)


_critic_apply = jax.jit(
    lambda spec, params, spectral, x: train_lib.critic_scores(spec, params, spectral, x)[0],
    static_argnums=0)


# --- Plots ---------------------------------------------------------------------------


def _pyplot():
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
  return plt


def read_metrics(path: str) -> list[dict]:
  """The records of a metrics.jsonl (empty if the file does not exist)."""
  if not os.path.exists(path):
    return []
  with open(path) as f:
    return [json.loads(line) for line in f if line.strip()]


def plot_losses(records: list[dict], path: str, *, penalty_weight: float) -> bool:
  """Critic loss, its unregularised part and the penalty, and the generator loss.

  The left panel is the plot the WGAN-GP seeds draw (critic cost and its parts over
  generator iterations); the right panel the generator loss. Returns False (and
  writes nothing) when there is nothing to plot yet.
  """
  train = [r for r in records if "critic/loss" in r]
  if not train:
    return False
  plt = _pyplot()
  steps = [r["step"] for r in train]
  fig, (ax_c, ax_g) = plt.subplots(1, 2, figsize=(11, 4))
  ax_c.plot(steps, [r["critic/loss"] for r in train], label="critic loss (total)")
  ax_c.plot(steps, [r["critic/loss_unregularised"] for r in train],
            label="unregularised part")
  if penalty_weight:
    ax_c.plot(steps, [penalty_weight * r["critic/penalty"] for r in train],
              label=f"penalty x lambda ({penalty_weight:g})")
  if "critic/wasserstein_estimate" in train[0]:
    ax_c.plot(steps, [r["critic/wasserstein_estimate"] for r in train], alpha=0.6,
              label="E[D(real)] - E[D(fake)]")
  ax_c.set_xlabel("generator step")
  ax_c.set_title("critic")
  ax_c.legend(fontsize=8)
  ax_g.plot(steps, [r["generator/loss"] for r in train], color="tab:red")
  ax_g.set_xlabel("generator step")
  ax_g.set_title("generator loss")
  fig.tight_layout()
  fig.savefig(path, dpi=100)
  plt.close(fig)
  return True


def plot_critic_contour(spec: train_lib.StepSpec, state: train_lib.GANState,
                        samples: np.ndarray, real: np.ndarray, path: str, *,
                        title: str) -> None:
  """The critic's value over the plane with real and generated samples on top.

  As the WGAN-GP paper's toy figure (gan_toy.py): contour lines of D(x) on a grid
  spanning the data and the samples, real points and generated points overlaid.
  """
  plt = _pyplot()
  both = np.concatenate([real, samples])
  lo, hi = np.percentile(both, [0.5, 99.5], axis=0)
  pad = 0.15 * (hi - lo) + 1e-3
  xs = np.linspace(lo[0] - pad[0], hi[0] + pad[0], _CONTOUR_POINTS)
  ys = np.linspace(lo[1] - pad[1], hi[1] + pad[1], _CONTOUR_POINTS)
  gx, gy = np.meshgrid(xs, ys)
  grid = np.stack([gx.ravel(), gy.ravel()], axis=1).astype(np.float32)
  values = critic_scores(spec, state, grid).reshape(gx.shape)
  fig, ax = plt.subplots(figsize=(6, 6))
  contour = ax.contour(gx, gy, values, levels=20, cmap="viridis", linewidths=0.8)
  fig.colorbar(contour, ax=ax, shrink=0.8, label="critic value D(x)")
  ax.scatter(real[:, 0], real[:, 1], s=3, c=sample_lib.REAL_COLOUR, alpha=0.5,
             label="real")
  ax.scatter(samples[:, 0], samples[:, 1], s=3, c=sample_lib.GENERATED_COLOUR, alpha=0.5,
             label="generated")
  ax.set_xlim(xs[0], xs[-1])
  ax.set_ylim(ys[0], ys[-1])
  ax.set_aspect("equal")
  ax.set_title(title)
  ax.legend(loc="upper right", fontsize=8)
  fig.savefig(path, dpi=100, bbox_inches="tight")
  plt.close(fig)


# --- The evaluator ---------------------------------------------------------------------


def _finite_or_none(value):
  """JSON has no inf/nan: they become None (and the key says what was measured)."""
  if isinstance(value, float) and not math.isfinite(value):
    return None
  return value


# The evaluation classifier is a measuring instrument: one per dataset, trained with
# this fixed seed (not the run's), so numbers from different runs are comparable.
CLASSIFIER_SEED = 0


def classifier_dir(config) -> str:
  """Where the evaluation classifier is cached: eval.classifier_dir, else beside the data.

  Beside the TFDS data (dataset.data_dir, or TFDS's default ~/tensorflow_datasets)
  every run on a dataset shares one classifier, trained once.
  """
  if config.eval.classifier_dir:
    return os.path.expanduser(config.eval.classifier_dir)
  data_dir = config.dataset.data_dir or os.path.join("~", "tensorflow_datasets")
  return os.path.join(os.path.expanduser(data_dir), "jaxgan_classifiers")


def check_inception_config(config) -> None:
  """Raises ValueError (one line) unless the eval.inception_* settings can be used.

  Called when an Evaluator is built; start-up validation can call it too, so a run
  with a missing weights file stops before training rather than at its first
  evaluation.
  """
  ev = config.eval
  path = os.path.expanduser(ev.inception_weights)
  if not os.path.exists(path):
    raise ValueError(f"eval.inception_weights: {inception_lib.missing_weights_message(path)}")
  for key, low in (("inception_num_samples", max(2, ev.is_splits)),
                   ("inception_batch_size", 0), ("inception_real_features", ev.prdc_k + 1),
                   ("is_splits", 1), ("prdc_k", 1)):
    if ev[key] < low:
      raise ValueError(f"eval.{key} must be >= {low}, got {ev[key]}")
  if ev.inception_num_samples <= ev.prdc_k:
    raise ValueError(f"eval.inception_num_samples ({ev.inception_num_samples}) must "
                     f"exceed eval.prdc_k ({ev.prdc_k})")


class Evaluator:
  """Evaluates GANStates of one run; holds the state-independent setup.

  Args:
    config: the run's config (reads dataset.*, model.z_dim, seed, eval.*, ema.*,
      penalty.weight); a population member's own config (population.member_config).
    spec: the run's StepSpec (a single-device one: evaluation runs on the host's
      first device).
    workdir: the run directory; results go to WORKDIR/eval.
    class_names: a conditional run's class names (its classes.json).
    member: a population member (jaxgan/population.py): its results go to
      WORKDIR/eval/member_NN and its loss plot reads only its own records.
    share: another member's Evaluator whose image set-up (classifier, held-out
      split, real-data reference) this one reuses instead of repeating it; the
      reference's KID subsets are then drawn with that member's seed.
  """

  def __init__(self, config, spec: train_lib.StepSpec, workdir: str, *, class_names=(),
               member=None, share: "Evaluator | None" = None):
    self.config = config
    self._share = share
    self.spec = spec
    self.workdir = workdir
    self.class_names = tuple(class_names)
    self.member = member
    self.out_dir = os.path.join(workdir, "eval")
    if member is not None:
      self.out_dir = os.path.join(self.out_dir, population_lib.member_dir(member.index))
    ev = config.eval
    name = config.dataset.name
    self.toy = name in toy_data.TOY_DATASETS
    self.inception_on = bool(ev.inception_weights) and not self.toy
    if self.inception_on:
      check_inception_config(config)
    self._inception = None  # (Extractor, Reference), set up on first use
    # One latent stream: the classifier metrics use its first num_samples latents.
    num_latents = max(ev.num_samples, ev.inception_num_samples if self.inception_on else 0)
    self.z = eval_latents(config.seed, num_latents, config.model.z_dim)
    # The classes asked of a conditional generator, sample by sample (None: unconditional).
    self.labels = (eval_labels(num_latents, spec.num_classes)
                   if spec.num_classes else None)
    self._classifier = None
    self._heldout = None
    self.setup_seconds = 0.0  # one-time set-up (classifier, real reference) so far
    self.reference = None  # real data scored like a generator (see _image_setup)
    if self.toy:
      rng = np.random.default_rng([config.seed, _EVAL_DATA_STREAM])
      self.real = toy_data.sample(name, rng, ev.num_samples)
      # A second real set scored like a generator: what a perfect one would get at
      # this sample size (HQ% < 100, distances > 0). State-independent: once per run.
      self.reference = self.metrics(toy_data.sample(name, rng, ev.num_samples))

  # Image metrics need a classifier; it is trained (or loaded) on first use only.
  def _image_setup(self):
    from jaxgan import classifier as classifier_lib  # pylint: disable=g-import-not-at-top
    if not classifier_lib.supports(self.config.dataset):
      return None
    if self._classifier is None and self._share is not None:
      share = self._share
      share._image_setup()
      self._classifier, self._heldout, self.reference = (
          share._classifier, share._heldout, share.reference)
    if self._classifier is None:
      t0 = setup_start = time.monotonic()
      cache = classifier_dir(self.config)
      logger.info("evaluation: loading or training the %s classifier (cached in %s; "
                  "trained once per dataset)", self.config.dataset.name, cache)
      self._classifier = classifier_lib.load_or_train(
          self.config.dataset, cache, seed=CLASSIFIER_SEED)
      logger.info("evaluation: classifier %s (%.1fs, held-out accuracy %.3f)",
                  "trained" if self._classifier.trained else "loaded",
                  time.monotonic() - t0, self._classifier.test_accuracy)
      t0 = time.monotonic()
      self._heldout = classifier_lib.real_split(self.config.dataset, "test")
      # Real training images scored like a generator: the floor of FD / KID and the
      # classifier's view of real data, for reading the generators' numbers.
      real, real_labels = classifier_lib.real_split(self.config.dataset, "train",
                                                    limit=self.config.eval.num_samples)
      self.reference = self._image_metrics(classifier_lib, real,
                                           real_labels if self.spec.num_classes else None)
      logger.info("evaluation: real-data reference scored (%.1fs)", time.monotonic() - t0)
      self.setup_seconds += time.monotonic() - setup_start
    return classifier_lib

  def _image_metrics(self, classifier_lib, samples: np.ndarray, requested=None) -> dict:
    ev = self.config.eval
    images, labels = self._heldout
    num_classes = int(self._classifier.num_classes)
    out = classifier_lib.image_metrics(
        self._classifier, samples, images, labels,
        num_classes=num_classes, kid_subsets=ev.kid_subsets,
        kid_subset_size=ev.kid_subset_size, strict_fraction=ev.strict_fraction,
        rng=self.config.seed)
    if requested is not None:
      out.update(classifier_lib.conditional_image_metrics(
          self._classifier, samples, requested, images, labels, num_classes=num_classes))
    return out

  def metrics(self, samples: np.ndarray, requested=None) -> dict:
    """The metrics of one generator's samples (flat, JSON-ready); `requested` [N]: the
    classes a conditional generator was asked for."""
    ev = self.config.eval
    if self.toy:
      out = toy_metrics(self.config.dataset.name, samples, self.real,
                        hq_sigmas=ev.hq_sigmas, strict_fraction=ev.strict_fraction,
                        num_projections=ev.num_projections,
                        mmd_bandwidths=tuple(ev.mmd_bandwidths), seed=self.config.seed)
    else:
      classifier_lib = self._image_setup()
      if classifier_lib is None:
        return {}
      out = self._image_metrics(classifier_lib, samples, requested)
    return {k: _finite_or_none(v) for k, v in out.items()}

  def _inception_setup(self):
    if self._inception is None:
      ev, dataset = self.config.eval, self.config.dataset
      batch = ev.inception_batch_size or (10 if jax.default_backend() == "cpu" else 200)
      extractor = inception_lib.Extractor.from_file(ev.inception_weights, batch_size=batch)
      key = {"dataset": dataset.name, "split": "train", "image_size": dataset.image_size}
      if dataset.name == "folder":
        from jaxgan.data import folder  # pylint: disable=g-import-not-at-top
        key.update(path=os.path.abspath(os.path.expanduser(dataset.path)),
                   files=folder.contents_digest(folder.read_folder(dataset.path)))
      reference = inception_lib.load_or_compute_reference(
          classifier_dir(self.config), key, extractor,
          lambda: inception_lib.real_image_batches(dataset, "train"),
          num_features=ev.inception_real_features, seed=CLASSIFIER_SEED)
      self._inception = extractor, reference
    return self._inception

  def inception_metrics(self, samples: np.ndarray) -> dict:
    """The FID Inception-v3 metrics of one generator's samples (flat, JSON-ready)."""
    ev = self.config.eval
    extractor, reference = self._inception_setup()
    pool3, _ = extractor.activations(samples)
    out = inception_lib.inception_metrics(
        pool3, extractor.score_logits(pool3), reference, is_splits=ev.is_splits,
        kid_subsets=ev.kid_subsets, kid_subset_size=ev.kid_subset_size, prdc_k=ev.prdc_k,
        rng=self.config.seed)
    return {k: _finite_or_none(v) for k, v in out.items()}

  def __call__(self, state: train_lib.GANState, step: int) -> dict:
    """Evaluates `state` (a host, unreplicated GANState) at `step`; writes JSON + plots.

    Returns the result dict that was written to WORKDIR/eval/step_N.json.
    """
    os.makedirs(self.out_dir, exist_ok=True)
    result = {"step": int(step), "dataset": self.config.dataset.name,
              "num_samples": int(self.config.eval.num_samples), "generators": {}}
    if self.member is not None:
      result["member"] = self.member.as_json()

    plots = []
    if self.labels is not None:
      result["class_names"] = list(self.class_names)
    n = self.config.eval.num_samples
    for label, use_ema in sample_lib.generators(self.config):
      samples = generate(self.spec, state, self.z, use_ema=use_ema, labels=self.labels)
      requested = None if self.labels is None else self.labels[:n]
      result["generators"][label] = self.metrics(samples[:n], requested)
      if self.inception_on:
        result["generators"][label].update(
            self.inception_metrics(samples[:self.config.eval.inception_num_samples]))
      suffix = "" if label == "raw" else f"_{label}"
      stem = os.path.join(self.out_dir, f"step_{step:06d}{suffix}")
      if self.toy:
        plot_critic_contour(self.spec, state, samples, self.real, stem + "_critic.png",
                            title=f"{self.config.dataset.name}, step {step} "
                                  f"({label} generator)")
        plots.append(stem + "_critic.png")
      else:
        self._save_grid(samples, stem + "_samples.png")
        plots.append(stem + "_samples.png")
    if self.reference is not None:
      result["real_data_reference"] = {k: _finite_or_none(v)
                                       for k, v in self.reference.items()}
    if self._classifier is not None:
      result["feature_extractor"] = self._classifier.name
    if self._inception is not None:
      extractor, reference = self._inception
      # The protocol, so the numbers can be put beside a paper's.
      result["inception"] = {
          "weights": extractor.metadata.get("source", self.config.eval.inception_weights),
          "weights_sha256": extractor.metadata.get("source_sha256"),
          "num_samples": int(self.config.eval.inception_num_samples),
          "reference": f"{self.config.dataset.name} train split, all "
                       f"{reference.num_images} images",
          "reference_features_kid_prdc": int(len(reference.features))}
    if not self.toy and self._classifier is None:
      result["note"] = (f"no classifier metrics for dataset {self.config.dataset.name!r}: it "
                        "has no labels to train the evaluation classifier on")
    loss_plot = os.path.join(self.out_dir, "losses.png")
    index = None if self.member is None else self.member.index
    records = [r for r in read_metrics(os.path.join(self.workdir, "metrics.jsonl"))
               if r.get("member") == index]  # a population's: this member's records
    if plot_losses(records, loss_plot, penalty_weight=float(self.config.penalty.weight)):
      plots.append(loss_plot)
    result["plots"] = plots
    path = os.path.join(self.out_dir, f"step_{step:06d}.json")
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
      json.dump(result, f, indent=2, allow_nan=False)
    os.replace(tmp, path)
    result["path"] = path
    return result

  def _save_grid(self, samples: np.ndarray, path: str) -> None:
    """The first 100 samples; a conditional run's as one row per class."""
    if self.labels is None:
      sample_lib.save_image_grid(samples[:100], path)
      return
    k = self.spec.num_classes
    per_class = max(1, min(100 // k, len(samples) // k))
    order = np.concatenate([np.flatnonzero(self.labels == c)[:per_class] for c in range(k)])
    titles = list(self.class_names) if len(self.class_names) == k else [str(c) for c in range(k)]
    sample_lib.save_image_grid(samples[order], path, row_titles=titles)


def flat_scalars(result: dict) -> dict:
  """{"eval/raw/modes_covered": 25, ...}: an evaluation's numbers for metrics/TensorBoard."""
  return {f"eval/{label}/{key}": value
          for label, values in result["generators"].items()
          for key, value in values.items() if isinstance(value, (int, float))}


def _describe(values: dict) -> str:
  parts = []
  if "modes_covered" in values:
    parts.append(f"{values['modes_covered']}/{values['num_modes']} modes "
                 f"({values['modes_covered_strict']} strict), "
                 f"{values['hq_percent']:.1f}% HQ")
  if values.get("fid_inception_v3") is not None:
    parts.append(f"FID {values['fid_inception_v3']:.4g}, IS {values['is_inception_v3']:.3g}")
  if "classes_covered" in values:
    parts.append(f"{values['classes_covered']}/{values['num_classes']} classes, "
                 f"confidence {values['mean_max_prob']:.2f}")
  if values.get("requested_class_accuracy") is not None:
    parts.append(f"requested class {values['requested_class_accuracy']:.3f} "
                 f"(worst class {values['requested_class_accuracy_min']:.3f})")
  for key, value in values.items():
    if key.startswith(("fd_", "kid_", "sliced_wasserstein")) and not key.startswith(
        "kid_stderr") and value is not None:
      parts.append(f"{key} {value:.4g}")
    elif (key.startswith("intra_fd_") and not re.search(r"_class\d+$", key)
          and value is not None):
      parts.append(f"{key} {value:.4g}")
  return ", ".join(parts) or "no metrics"


def summary_line(result: dict) -> str:
  """One human line per generator, e.g. 'raw: 25/25 modes (25 strict), 97.2% HQ, ...'."""
  return "; ".join(f"{label}: {_describe(values)}"
                   for label, values in result["generators"].items())


# --- Populations ---------------------------------------------------------------------


def _summarized_keys(per_member: dict) -> list[str]:
  """The numbers of members' results worth a mean (not counts fixed by the config)."""
  return sorted({k for values in per_member.values() for k, v in values.items()
                 if isinstance(v, (int, float)) and not isinstance(v, bool)
                 and not k.startswith("num_")})


def _summary(per_member: dict) -> dict:
  return {k: population_lib.summarize([v[k] for v in per_member.values()
                                       if isinstance(v.get(k), (int, float))])
          for k in _summarized_keys(per_member)}


def _best(per_member: dict, members, metric: str):
  best = population_lib.best_member({i: v.get(metric) for i, v in per_member.items()}, metric)
  return None if best is None else {**members[best[0]].as_json(), "value": best[1]}


def population_result(step: int, results: dict, members, groups, diverged: dict,
                      best_metric: str) -> dict:
  """A population's evaluation at `step` from its members' results.

  Args:
    step: the step evaluated.
    results: {member index: Evaluator result} of the members summarised.
    members: every population.Member, in index order.
    groups: the population.Group of each sweep combination (one with no sweep).
    diverged: {member index: step it diverged at} (left out of the summaries).
    best_metric: the number that names the best member (population.best_metric).

  Returns:
    {"step", "best_metric", "members": [per-member entries], "best": {generator
    label: the best member overall (its index, seed, values and "value")},
    "groups": [{"values": the combination, "members": indices summarised,
    "summary": {label: {key: population.summarize(...)}}, "best": {label: ...}}],
    "diverged"}. A key's summary uses the members that reported a finite value
    for it (its "n").
  """
  out = {"step": int(step), "best_metric": best_metric, "members": [], "best": {},
         "groups": [], "diverged": {str(i): int(d) for i, d in sorted(diverged.items())}}
  for m in members:
    if m.index in results:
      r = results[m.index]
      out["members"].append({**m.as_json(), "generators": r["generators"], "path": r["path"]})
    elif m.index in diverged:
      out["members"].append({**m.as_json(), "diverged_at": int(diverged[m.index])})
  labels = list(next(iter(results.values()))["generators"]) if results else []
  for label in labels:
    out["best"][label] = _best({i: r["generators"][label] for i, r in results.items()},
                               members, best_metric)
  for group in groups:
    indices = [i for i in group.members if i in results]
    entry = {"values": dict(group.values), "members": indices, "summary": {}, "best": {}}
    for label in labels:
      per_member = {i: results[i]["generators"][label] for i in indices}
      entry["summary"][label] = _summary(per_member)
      entry["best"][label] = _best(per_member, members, best_metric)
    out["groups"].append(entry)
  return out


def write_result(result: dict, path: str) -> str:
  """Writes an evaluation result as JSON (atomically); returns the path."""
  os.makedirs(os.path.dirname(path), exist_ok=True)
  tmp = path + ".tmp"
  with open(tmp, "w") as f:
    json.dump(result, f, indent=2, allow_nan=False)
  os.replace(tmp, path)
  return path


def population_scalars(result: dict) -> list[tuple[dict, dict]]:
  """A population evaluation's records for metrics.jsonl / TensorBoard: one
  (fields, scalars) per sweep combination, scalars eval/raw/KEY/mean, .../std,
  .../ci95, and in the first also eval/raw/best_member and .../best_value over
  the whole population."""
  records = []
  for g, group in enumerate(result["groups"]):
    scalars = {}
    for label, summary in group["summary"].items():
      for key, s in summary.items():
        scalars.update({f"eval/{label}/{key}/{stat}": s[stat]
                        for stat in ("mean", "std", "ci95") if s[stat] is not None})
    if g == 0:
      for label, best in result["best"].items():
        if best is not None:
          scalars[f"eval/{label}/best_member"] = best["member"]
          scalars[f"eval/{label}/best_value"] = best["value"]
    records.append((population_lib.summary_fields(group["values"], len(group["members"])),
                    scalars))
  return records


def population_summary_line(result: dict) -> str:
  """Per combination and generator, e.g. 'raw: fd_digits_classifier 16.9 +- 2.1 (95% CI
  over 8 members)', then the best member."""
  metric = result["best_metric"]
  parts = []
  for group in result["groups"]:
    for label, summary in group["summary"].items():
      stats = []
      for key in dict.fromkeys((metric, "classes_covered", "modes_covered", "hq_percent")):
        if key in summary:
          s = summary[key]
          spread = f" +- {s['ci95']:.3g}" if s["ci95"] is not None else ""
          stats.append(f"{key} {s['mean']:.4g}{spread}")
      where = ",".join(f"{k}={v:g}" for k, v in group["values"].items())
      parts.append(f"{where + ' ' if where else ''}{label}: {', '.join(stats) or 'no metrics'} "
                   f"(95% CI over {len(group['members'])} member(s))")
  for label, best in result["best"].items():
    if best is not None:
      parts.append(f"best {label}: member {best['member']} (seed {best['seed']}) "
                   f"{metric} {best['value']:.4g}")
  return "; ".join(parts)
