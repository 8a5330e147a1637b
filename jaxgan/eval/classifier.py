"""A small classifier of a labelled image dataset, the feature extractor of its metrics.

For the labelled datasets with a held-out split (EVALUABLE: digits, mnist,
fashion_mnist, cifar10, and a folder with one sub-folder per class) evaluation scores
generated images with a small CNN trained once on the real training split and cached
on disk: class coverage (classes covered, KL of the predicted class histogram from
the real one, mean max-probability; the stacked-MNIST protocol of VEEGAN / PacGAN),
and the Frechet distance and KID of its penultimate features against real held-out
images. The keys say so ("fd_digits_classifier", never "FID"): the numbers are
comparable between runs scored by the same cached classifier, not with published
Inception numbers (jaxgan/eval/inception.py's are). `ClassifierEvaluator` runs them
on a generator's samples. Deterministic given `seed`: initialisation and shuffling
come from jax.random.key(seed); there is no global random state.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import math
import os
import re
import time
import typing
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax

from jaxgan import data
from jaxgan.data import folder as folder_data
from jaxgan.data import registry
from jaxgan.eval import cache
from jaxgan.eval import metrics

# jaxgan's logger: its lines reach the user (absl's are quiet unless --verbosity).
logger = logging.getLogger("jaxgan")

# Bump when the network, its preprocessing or training changes meaning, so caches
# written by older code are retrained instead of silently reused.
ARCHITECTURE_VERSION = 1

# Images per forward pass at inference; the last batch is padded so one compiled
# shape serves every call.
_EVAL_BATCH = 500

# The training budget and network size: a measuring instrument's fixed settings, part
# of the cache key. Adam's customary step size (Kingma & Ba); a 128-wide feature layer
# keeps the Frechet distance's covariance estimable from a few hundred held-out images
# (digits has 300); convs of 32 channels doubled per stride-2 conv up to 128 are small
# enough to train on CPU and large enough for digits and MNIST.
LEARNING_RATE = 1e-3
FEATURE_DIM = 128
BASE_WIDTH = 32
MAX_WIDTH = 128


def accuracy_floor(num_classes: int) -> float:
  """The held-out accuracy below which a classifier's metrics are not trusted:
  max(2 x chance, 0.5), but never above halfway from chance to perfect (for two
  classes 2 x chance would ask for perfection)."""
  chance = 1.0 / num_classes
  return min(max(2 * chance, 0.5), (1 + chance) / 2)


def trust(test_accuracy: float, num_classes: int) -> dict:
  """What every evaluation records about its classifier: held-out accuracy, chance,
  floor, and if below the floor `untrustworthy`, the reason."""
  floor = accuracy_floor(num_classes)
  out = dict(test_accuracy=float(test_accuracy), chance=1.0 / num_classes, floor=floor)
  if not test_accuracy >= floor:
    out["untrustworthy"] = (
        f"the classifier's held-out accuracy {test_accuracy:.3f} is below its floor "
        f"{floor:.3f} (chance {1.0 / num_classes:.3f}): its class coverage, confidence, "
        f"FD and KID say little; give each class more images")
  return out


@typing.runtime_checkable
class FeatureExtractor(typing.Protocol):
  """What `image_metrics` needs: a `name` (its metric keys' suffix), features and
  probabilities.
  """

  name: str

  def features(self, images: np.ndarray) -> np.ndarray:
    """[N, H, W, C] in [-1, 1] -> float [N, F]."""

  def probabilities(self, images: np.ndarray) -> np.ndarray | None:
    """[N, H, W, C] in [-1, 1] -> softmax [N, K], or None if it does not classify."""


# Datasets with labels and a held-out split: the labelled TFDS datasets with a test
# split, and a folder with one sub-folder per class (its layout decides).
EVALUABLE = tuple(name for name, entry in registry.DATASETS.items()
                  if entry.kind == registry.FOLDER
                  or (entry.labelled and entry.test_split is not None))


def supports(dataset_cfg: ml_collections.ConfigDict) -> bool:
  """Whether the classifier can be trained and scored on this dataset.

  For a folder this scans it: it needs one sub-folder per class.
  """
  entry = registry.info(dataset_cfg.name)
  if entry.kind == registry.FOLDER:
    return folder_data.read_folder(dataset_cfg.path).labels is not None
  return dataset_cfg.name in EVALUABLE


def check_dataset(dataset_cfg: ml_collections.ConfigDict) -> None:
  """Raises ValueError naming the dataset and why, unless `supports` it."""
  name = dataset_cfg.name
  if name not in EVALUABLE:
    raise ValueError(
        f"no classifier-based metrics for dataset {name!r}: they need a labelled "
        f"dataset with a held-out split; allowed: {', '.join(EVALUABLE)} (a folder "
        "with one sub-folder per class)")
  data.require_labels(dataset_cfg)


def real_split(dataset_cfg: ml_collections.ConfigDict, split: str, *,
               limit: int | None = None) -> tuple[np.ndarray, np.ndarray]:
  """(images float32 [N, S, S, C] in [-1, 1], labels int32 [N]) of "train" or "test".

  Loaded by the training data's own loader (jaxgan.data.load.load_split), so
  preprocessed exactly as training data; `limit`: only the first examples in stored
  order. For a folder "test" is every 6th image of each class (sorted order) and
  "train" the rest; the GAN itself trains on every image.
  """
  check_dataset(dataset_cfg)
  if split not in ("train", "test"):
    raise ValueError(f"unknown split {split!r}; allowed: train, test")
  if limit is not None and limit < 1:
    raise ValueError(f"limit must be >= 1 or None, got {limit}")
  # TF costs seconds to import; callers that never touch real images don't pay it.
  from jaxgan.data import load  # pylint: disable=g-import-not-at-top
  entry = registry.info(dataset_cfg.name)
  if entry.kind == registry.TFDS:
    split = entry.train_split if split == "train" else entry.test_split
  return load.load_split(dataset_cfg, split, with_labels=True, limit=limit)


def num_classes(dataset_cfg: ml_collections.ConfigDict) -> int:
  """Number of label classes of the dataset (TFDS metadata or class sub-folders)."""
  return len(data.class_names(dataset_cfg))


def _data_key(dataset_cfg: ml_collections.ConfigDict, channels: int) -> dict:
  """What identifies the data a classifier is trained on, beyond name and size.

  A folder: its absolute path, a digest of its sorted file list and the hold-out
  rule that splits it, so two folders (or one whose files or split changed) never
  share a cached classifier. A TFDS dataset's name fixes its splits (the
  registry's). Channels only when
  they differ from the dataset's own, so caches written before channels could be
  forced stay valid.
  """
  entry = registry.info(dataset_cfg.name)
  if entry.kind == registry.FOLDER:
    images = folder_data.read_folder(dataset_cfg.path)
    return dict(folder=os.path.abspath(dataset_cfg.path),
                folder_digest=folder_data.contents_digest(images),
                channels=channels, held_out_every=registry.TEST_EVERY)
  return {} if channels == entry.channels else dict(channels=channels)


class ConvClassifier(nn.Module):
  """x[B, H, W, C] -> (features[B, feature_dim], logits[B, num_classes]).

  A 3x3 conv at full resolution, then stride-2 3x3 convs until the side is <= 4, a
  dense layer (its pre-activations are the features), ReLU, and a linear layer (the
  logits). No normalisation layers: an image's features then depend on that image
  alone, never on the batch it is evaluated in.
  """

  num_classes: int
  widths: tuple[int, ...]  # channels of each conv; all but the first stride 2
  feature_dim: int

  @nn.compact
  def __call__(self, x):
    for i, width in enumerate(self.widths):
      x = nn.relu(nn.Conv(width, (3, 3), strides=1 if i == 0 else 2)(x))
    x = x.reshape((x.shape[0], -1))
    # The features are the penultimate layer *before* its ReLU: after it, units that
    # never fire (a quarter of them on digits) are constant zeros, which makes the
    # feature covariance of the Frechet distance singular.
    features = nn.Dense(self.feature_dim)(x)
    return features, nn.Dense(self.num_classes)(nn.relu(features))


def conv_widths(image_size: int) -> tuple[int, ...]:
  """Conv channels for `image_size`: enough stride-2 convs to bring the side to <= 4.

  8 -> (32, 64); 28 and 32 -> (32, 64, 128, 128) with base 32, max 128.
  """
  downsamples = max(1, math.ceil(math.log2(image_size / 4)))
  return (BASE_WIDTH,) + tuple(min(BASE_WIDTH * 2**(i + 1), MAX_WIDTH)
                               for i in range(downsamples))


@functools.partial(jax.jit, static_argnums=(0, 2))
def _init(model: ConvClassifier, key: jax.Array, image_shape: tuple[int, ...]):
  # Compiled: faster than flax's op-by-op init, and reused by every later call with
  # this architecture.
  return model.init(key, jnp.zeros((1, *image_shape), jnp.float32))["params"]


@functools.partial(jax.jit, static_argnums=0)
def _forward_jit(model: ConvClassifier, params, images):
  # The module is a hashable dataclass: equal architectures share one compilation.
  return model.apply({"params": params}, images)


@dataclasses.dataclass(frozen=True, eq=False)
class Classifier:
  """A trained ConvClassifier: a FeatureExtractor named "<dataset> classifier".

  `trained` says whether `load_or_train` trained it (or loaded it); `metadata` is what
  the cache records (the key, test accuracy, training time).
  """

  name: str
  model: ConvClassifier
  params: Any
  image_shape: tuple[int, int, int]
  test_accuracy: float
  trained: bool
  metadata: dict

  @property
  def num_classes(self) -> int:
    return self.model.num_classes

  def _forward(self, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    images = np.asarray(images, np.float32)
    if images.ndim != 4 or images.shape[1:] != self.image_shape:
      shape = ", ".join(map(str, self.image_shape))
      raise ValueError(f"{self.name} takes images [N, {shape}] in [-1, 1], got shape "
                       f"{images.shape}")
    feats, logits = [], []
    for start in range(0, len(images), _EVAL_BATCH):
      batch = images[start:start + _EVAL_BATCH]
      padded = np.pad(batch, ((0, _EVAL_BATCH - len(batch)), (0, 0), (0, 0), (0, 0)))
      batch_feats, batch_logits = _forward_jit(self.model, self.params, padded)
      feats.append(np.asarray(batch_feats)[:len(batch)])
      logits.append(np.asarray(batch_logits)[:len(batch)])
    if not feats:
      return (np.zeros((0, self.model.feature_dim), np.float32),
              np.zeros((0, self.num_classes), np.float32))
    return np.concatenate(feats), np.concatenate(logits)

  def features(self, images: np.ndarray) -> np.ndarray:
    """Penultimate-layer features float32 [N, feature_dim] of images [N, H, W, C]."""
    return self._forward(images)[0]

  def probabilities(self, images: np.ndarray) -> np.ndarray:
    """Softmax class probabilities float64 [N, num_classes]."""
    # Softmax in float64 on the host: rows then sum to 1 to ~1e-16, whatever the logits.
    logits = self._forward(images)[1].astype(np.float64)
    exp = np.exp(logits - logits.max(axis=1, keepdims=True))
    return exp / exp.sum(axis=1, keepdims=True)

  def accuracy(self, images: np.ndarray, labels: np.ndarray) -> float:
    """Fraction of images whose argmax class is their label."""
    return float(np.mean(np.argmax(self._forward(images)[1], axis=1) == labels))


@functools.partial(jax.jit, static_argnums=0)
def _train_step(model: ConvClassifier, params, opt_state, images, labels):
  """One Adam step on the mean softmax cross-entropy of a batch."""
  optimizer = optax.adam(LEARNING_RATE)

  def loss_fn(p):
    logits = model.apply({"params": p}, images)[1]
    return optax.softmax_cross_entropy_with_integer_labels(logits, labels).mean()

  loss, grads = jax.value_and_grad(loss_fn)(params)
  updates, opt_state = optimizer.update(grads, opt_state, params)
  return optax.apply_updates(params, updates), opt_state, loss


def train(model: ConvClassifier, images: np.ndarray, labels: np.ndarray, *,
          key: jax.Array, num_steps: int, batch_size: int):
  """Parameters of `model` fitted to (images, labels) by Adam; a pure function of key.

  Epoch e is a permutation drawn with fold_in(shuffle key, e); its incomplete last
  batch is dropped so every step has one shape (one compilation). Needs at least
  batch_size images.
  """
  init_key, shuffle_key = jax.random.split(key)
  params = _init(model, init_key, images.shape[1:])
  opt_state = optax.adam(LEARNING_RATE).init(params)
  per_epoch = len(images) // batch_size
  loss = math.nan
  for step in range(num_steps):
    epoch, index = divmod(step, per_epoch)
    if index == 0:
      order = np.asarray(jax.random.permutation(jax.random.fold_in(shuffle_key, epoch),
                                                len(images)))
    batch = order[index * batch_size:(index + 1) * batch_size]
    params, opt_state, loss = _train_step(model, params, opt_state,
                                          images[batch], labels[batch])
    if step == 0:
      jax.block_until_ready(params)  # compiled: the steps from here on show the pace
      first = time.perf_counter()
    elif step == min(20, num_steps - 1):
      jax.block_until_ready(params)
      left = (time.perf_counter() - first) / step * (num_steps - step - 1)
      logger.info("classifier: about %.0f s left (%d steps)", left, num_steps - step - 1)
    if (step + 1) % 500 == 0:
      logger.info("classifier step %d/%d: loss %.4f", step + 1, num_steps, float(loss))
  return params


def load_or_train(dataset_cfg: ml_collections.ConfigDict, cache_dir: str, *, seed: int,
                  num_steps: int = 1500, batch_size: int = 64) -> Classifier:
  """The dataset's classifier: loaded from cache_dir, or trained on "train" and cached.

  The cache is keyed by dataset, image size, ARCHITECTURE_VERSION, every
  hyperparameter and `seed` (a folder's path and file digest, forced channels), so a
  classifier is reused only for exactly its data and settings; an unreadable or
  mismatched file is retrained with a CacheWarning. Numbers are comparable only between
  runs scored by one classifier: pass one `seed` for every run compared, not each run's.
  num_steps x batch_size = 1500 x 64 examples are 64 epochs of digits' 1,497 training
  images, about 1.6 of MNIST and 1.9 of CIFAR-10: a measurement budget for CPU.

  Returns a Classifier with .test_accuracy on "test" and .trained (True if trained by
  this call).
  """
  check_dataset(dataset_cfg)
  if num_steps < 1 or batch_size < 1:
    raise ValueError(f"num_steps ({num_steps}) and batch_size ({batch_size}) must be "
                     ">= 1")
  name, size = dataset_cfg.name, dataset_cfg.image_size
  k = num_classes(dataset_cfg)
  model = ConvClassifier(num_classes=k, feature_dim=FEATURE_DIM,
                         widths=conv_widths(size))
  image_shape = data.data_shape(dataset_cfg)
  key = jax.random.key(seed)
  meta_key = dict(dataset=name, image_size=size, version=ARCHITECTURE_VERSION,
                  num_classes=k, seed=seed, num_steps=num_steps, batch_size=batch_size,
                  learning_rate=LEARNING_RATE, feature_dim=FEATURE_DIM,
                  widths=list(model.widths),
                  **_data_key(dataset_cfg, image_shape[-1]))
  display_name = f"{name} classifier"

  def fit():
    train_images, train_labels = real_split(dataset_cfg, "train")
    test_images, test_labels = real_split(dataset_cfg, "test")
    logger.info("training the %s on %d images (%d steps of %d; once per dataset, then "
                 "cached); an estimate of its time follows its first steps", display_name,
                 len(train_images), num_steps, batch_size)
    start = time.perf_counter()
    params = train(model, train_images, train_labels, key=jax.random.fold_in(key, 0),
                   num_steps=num_steps, batch_size=min(batch_size, len(train_images)))
    jax.block_until_ready(params)
    seconds = time.perf_counter() - start
    accuracy = Classifier(name=display_name, model=model, params=params,
                          image_shape=image_shape, test_accuracy=math.nan, trained=True,
                          metadata={}).accuracy(test_images, test_labels)
    logger.info("%s: held-out accuracy %.4f after %.1f s", display_name, accuracy,
                 seconds)
    return cache.flatten(params), dict(meta_key, test_accuracy=accuracy,
                               train_seconds=round(seconds, 2),
                               num_train_examples=len(train_images),
                               num_test_examples=len(test_images))

  template = jax.eval_shape(_init, model, key, image_shape)
  arrays, metadata, trained = cache.load_or_compute(
      cache.path(cache_dir, f"classifier_{name}_{size}px_v{ARCHITECTURE_VERSION}",
                 meta_key),
      meta_key, fit, check=lambda arrays: cache.check_arrays(arrays, template, display_name),
      what="classifier", redo="retraining", json_copy=True)
  params = jax.tree.map(jnp.asarray, cache.unflatten(arrays))
  return Classifier(name=display_name, model=model, params=params,
                    image_shape=image_shape, test_accuracy=float(metadata["test_accuracy"]),
                    trained=trained, metadata=metadata)


def slug(name: str) -> str:
  """A feature extractor's name as a metric-key part: "digits classifier" -> "digits_classifier"."""
  return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")


def image_metrics(extractor: FeatureExtractor, generated: np.ndarray,
                  real_images: np.ndarray, real_labels: np.ndarray, *, num_classes: int,
                  rng: Any, kid_subsets: int = 100, kid_subset_size: int = 1000,
                  strict_fraction: float = 0.01, requested=None) -> dict[str, float | int]:
  """Scores generated images [N, H, W, C] against real held-out images [M, ...].

  real_labels [M] give the real class histogram; the extractor's probabilities, if
  any, must have num_classes columns. rng (int or JAX key) draws KID's kid_subsets
  subsets of kid_subset_size (Binkowski et al.'s 100 and 1000, clamped to min(N, M):
  with fewer held-out images, digits' 300, every subset is nearly the whole set and
  kid_stderr understates the uncertainty); strict_fraction as in
  metrics.class_histogram_metrics. requested [N]: the classes a conditional
  generator was asked for (None if unconditional).

  Returns a flat dict of Python numbers, keys suffixed by <slug> = slug(extractor.name):
  fd_<slug> (metrics.frechet_distance of the features), kid_<slug>,
  kid_stderr_<slug>, num_samples; if the extractor classifies, classes_covered,
  classes_covered_strict, class_kl, mean_max_prob and num_classes; with `requested`,
  metrics.requested_class_metrics, intra_fd_<slug> (the mean over classes of
  metrics.intra_frechet_distances) and intra_fd_<slug>_class{k} (NaN: no samples).
  """
  name = slug(extractor.name)
  # Class checks first: a mismatched extractor fails before the costly distances.
  probs = extractor.probabilities(generated)
  if probs is None and requested is not None:
    raise ValueError(f"{extractor.name} does not classify the dataset's {num_classes} "
                     "classes; conditional metrics need one that does")
  if probs is not None and probs.shape[1] != num_classes:
    raise ValueError(f"{extractor.name} gives probabilities over {probs.shape[1]} "
                     f"classes; the dataset has {num_classes}")
  feats_fake = extractor.features(generated)
  feats_real = extractor.features(real_images)
  kid, kid_stderr = metrics.kernel_inception_distance(
      feats_fake, feats_real, num_subsets=kid_subsets, subset_size=kid_subset_size,
      rng=rng)
  result = {f"fd_{name}": metrics.frechet_distance(feats_fake, feats_real),
            f"kid_{name}": kid, f"kid_stderr_{name}": kid_stderr,
            "num_samples": int(len(generated))}
  if probs is not None:
    classes = metrics.class_histogram_metrics(probs, real_labels=np.asarray(real_labels),
                                              strict_fraction=strict_fraction)
    for key in ("classes_covered", "classes_covered_strict", "class_kl", "mean_max_prob",
                "num_classes"):
      result[key] = classes[key]
  if requested is not None:
    result.update(metrics.requested_class_metrics(probs, requested))
    distances = metrics.intra_frechet_distances(feats_fake, requested, feats_real,
                                                real_labels, num_classes)
    finite = [d for d in distances if not math.isnan(d)]
    result[f"intra_fd_{name}"] = float(np.mean(finite)) if finite else math.nan
    result.update({f"intra_fd_{name}_class{k}": d for k, d in enumerate(distances)})
  return result


class ClassifierEvaluator:
  """The classifier metrics of generated images (and, conditional, of their classes).

  Set up on first use, once for it and every evaluator made with `share` (another
  member's ClassifierEvaluator): the dataset's classifier (trained once, cached in
  `cache_dir` with `seed`), the held-out split, and `real_data_reference`: real
  training images scored like a generator, the floor of FD / KID and the classifier's
  view of real data.
  """

  def __init__(self, config, num_classes: int, *, cache_dir: str, seed: int,
               share: "ClassifierEvaluator | None" = None):
    self.config = config
    self.conditional = bool(num_classes)
    self.num_samples = int(config.eval.num_samples)
    self.setup_seconds = 0.0
    self._cache_dir, self._seed = cache_dir, seed
    self._shared = {} if share is None else share._shared  # pylint: disable=protected-access

  @property
  def real_data_reference(self) -> dict | None:
    return self._shared.get("real_data_reference")

  def _setup(self) -> None:
    if "real_data_reference" in self._shared:
      return
    dataset = self.config.dataset
    t0 = start = time.monotonic()
    logger.info("evaluation: loading or training the %s classifier (cached in %s; "
                 "trained once per dataset)", dataset.name, self._cache_dir)
    classifier = load_or_train(dataset, self._cache_dir, seed=self._seed)
    logger.info("evaluation: classifier %s (%.1fs, held-out accuracy %.3f)",
                 "trained" if classifier.trained else "loaded",
                 time.monotonic() - t0, classifier.test_accuracy)
    verdict = trust(classifier.test_accuracy, classifier.num_classes)
    if "untrustworthy" in verdict:
      logger.warning("evaluation: %s", verdict["untrustworthy"])
    t0 = time.monotonic()
    self._shared.update(classifier=classifier, heldout=real_split(dataset, "test"))
    real, real_labels = real_split(dataset, "train", limit=self.num_samples)
    self._shared["real_data_reference"] = self._metrics(
        real, real_labels if self.conditional else None)
    logger.info("evaluation: real-data reference scored (%.1fs)", time.monotonic() - t0)
    self.setup_seconds += time.monotonic() - start

  def _metrics(self, samples: np.ndarray, requested) -> dict:
    ev, classifier = self.config.eval, self._shared["classifier"]
    images, labels = self._shared["heldout"]
    return image_metrics(classifier, samples, images, labels,
                         num_classes=int(classifier.num_classes),
                         kid_subsets=ev.kid_subsets, kid_subset_size=ev.kid_subset_size,
                         strict_fraction=ev.strict_fraction, rng=self.config.seed,
                         requested=requested)

  def run(self, samples: np.ndarray, requested=None) -> dict:
    """The metrics of samples [N, H, W, C]; `requested` [N]: a conditional generator's
    classes asked for (None if unconditional)."""
    self._setup()
    return self._metrics(samples, requested)

  def describe(self) -> dict:
    classifier = self._shared.get("classifier")
    if classifier is None:
      return {}
    return {"feature_extractor": classifier.name,
            "classifier": trust(classifier.test_accuracy, classifier.num_classes)}
