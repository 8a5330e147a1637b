"""Tests of jaxgan.eval.classifier: the cached dataset classifier and its image metrics.

The digits classifier is trained once per module (its cache in a temporary directory);
digits is prepared in a temporary data_dir, mnist comes from tfds.testing.mock_data.
Nothing touches ~/tensorflow_datasets or the network.
"""

import json
import os
import shutil
import warnings

import ml_collections
import numpy as np
import pytest
import tensorflow_datasets as tfds
from PIL import Image

from jaxgan.eval import cache
from jaxgan.eval import classifier
from launcher import launch

NUM_EVAL = 300  # digits' whole held-out split; the same size for every compared set
# A third of the default 1500 steps keeps this file fast; held-out accuracy was 0.987
# after 300, 500, 800 and 1500 steps alike.
NUM_STEPS = 500
# With 300 images on each side every KID subset is both whole sets, so the 100
# subsets of the default would repeat one estimate 100 times.
KID_SUBSETS = 5


def dataset_cfg(name, data_dir, image_size=8, path="", channels=0):
  return ml_collections.ConfigDict(dict(name=name, data_dir=data_dir, path=path,
                                        image_size=image_size, channels=channels,
                                        shuffle_buffer=1))


@pytest.fixture(scope="module")
def digits(tmp_path_factory):
  """(config, cache dir, classifier trained with the defaults, train and test splits)."""
  cfg = dataset_cfg("digits", str(tmp_path_factory.mktemp("tfds")))
  cache_dir = str(tmp_path_factory.mktemp("classifier_cache"))
  clf = classifier.load_or_train(cfg, cache_dir, seed=0, num_steps=NUM_STEPS)
  train = classifier.real_split(cfg, "train")
  test = classifier.real_split(cfg, "test")
  return cfg, cache_dir, clf, train, test


@pytest.fixture(scope="module")
def real_and_noise_metrics(digits):
  _, _, clf, (train_x, _), (test_x, test_y) = digits
  noise = np.random.default_rng(0).uniform(-1.0, 1.0, size=(NUM_EVAL, 8, 8, 1))
  score = lambda images: classifier.image_metrics(
      clf, images, test_x, test_y, num_classes=10, rng=0, kid_subsets=KID_SUBSETS)
  return score(train_x[:NUM_EVAL]), score(noise.astype(np.float32))


def test_digits_classifier_reaches_90_percent_held_out_accuracy(digits):
  _, _, clf, _, (test_x, test_y) = digits
  assert clf.trained
  assert clf.test_accuracy >= 0.9
  assert clf.accuracy(test_x, test_y) == pytest.approx(clf.test_accuracy)


def test_real_splits_hold_every_digits_example_and_class(digits):
  _, _, _, (train_x, train_y), (test_x, test_y) = digits
  assert train_x.shape == (1497, 8, 8, 1) and test_x.shape == (NUM_EVAL, 8, 8, 1)
  assert train_x.dtype == np.float32
  assert train_x.min() == -1.0 and train_x.max() == 1.0
  assert set(np.unique(train_y)) == set(range(10)) == set(np.unique(test_y))


def _sorted_rows(images):
  flat = images.reshape(len(images), -1)
  return flat[np.lexsort(flat.T[::-1])]


def test_real_splits_are_sklearns_digits_with_their_targets(digits):
  from sklearn import datasets as sk_datasets
  from jaxgan.data import digits as digits_data
  _, _, _, train, test = digits
  sk = sk_datasets.load_digits()
  for split, (images, labels) in (("train", train), ("test", test)):
    idx = digits_data.split_indices(1797, split)
    expected = sorted(digits_data.to_uint8(im).tobytes() + bytes([t])
                      for im, t in zip(sk.images[idx], sk.target[idx]))
    pixels = np.round((images[..., 0] + 1) * 127.5).astype(np.uint8)
    assert sorted(im.tobytes() + bytes([int(t)])
                  for im, t in zip(pixels, labels)) == expected


def test_held_out_real_digits_score_near_perfect_against_train_digits(
    real_and_noise_metrics):
  real, noise = real_and_noise_metrics
  assert real["classes_covered"] == 10 and real["classes_covered_strict"] == 10
  assert real["class_kl"] < 0.05
  assert real["mean_max_prob"] > 0.95
  # The Frechet distance is biased upwards at finite N, so "near 0" means next to noise.
  assert real["fd_digits_classifier"] < 0.05 * noise["fd_digits_classifier"]
  assert abs(real["kid_digits_classifier"]) < 0.05 * noise["kid_digits_classifier"]


def test_uniform_noise_scores_badly(real_and_noise_metrics):
  real, noise = real_and_noise_metrics
  assert noise["classes_covered"] < 10 or noise["class_kl"] > 0.2
  assert noise["class_kl"] > 10 * real["class_kl"]
  assert noise["mean_max_prob"] < real["mean_max_prob"] - 0.1
  assert noise["fd_digits_classifier"] > 20 * real["fd_digits_classifier"]
  assert noise["kid_digits_classifier"] > 20 * abs(real["kid_digits_classifier"])


def test_metric_keys_name_the_classifier_never_fid_and_serialise_to_json(
    real_and_noise_metrics):
  real, _ = real_and_noise_metrics
  assert {"fd_digits_classifier", "kid_digits_classifier",
          "kid_stderr_digits_classifier", "classes_covered", "class_kl",
          "mean_max_prob"} <= set(real)
  assert not any("fid" in key or "inception" in key for key in real)
  assert all(key == key.lower() for key in real)
  assert json.loads(json.dumps(real)) == real


def test_second_load_uses_the_cache_and_gives_the_same_features(digits):
  cfg, cache_dir, clf, _, (test_x, _) = digits
  again = classifier.load_or_train(cfg, cache_dir, seed=0, num_steps=NUM_STEPS)
  assert not again.trained
  assert again.test_accuracy == clf.test_accuracy
  np.testing.assert_array_equal(again.features(test_x), clf.features(test_x))
  np.testing.assert_array_equal(again.probabilities(test_x), clf.probabilities(test_x))


def test_cache_holds_one_npz_and_a_readable_json_and_no_temporary_files(digits):
  _, cache_dir, clf, _, _ = digits
  names = sorted(os.listdir(cache_dir))
  assert len(names) == 2 and names[0].endswith(".json") and names[1].endswith(".npz")
  assert names[0][:-len(".json")] == names[1][:-len(".npz")]
  assert names[1].startswith("classifier_digits_8px_v")
  with open(os.path.join(cache_dir, names[0])) as f:
    assert json.load(f)["test_accuracy"] == clf.test_accuracy


def test_a_different_seed_trains_its_own_classifier_beside_the_cached_one(digits,
                                                                           tmp_path):
  cfg, cache_dir, _, _, _ = digits
  shutil.copytree(cache_dir, tmp_path, dirs_exist_ok=True)
  other = classifier.load_or_train(cfg, str(tmp_path), seed=1, num_steps=5)
  assert other.trained
  assert len([n for n in os.listdir(tmp_path) if n.endswith(".npz")]) == 2


def _only_npz(cache_dir):
  (name,) = [n for n in os.listdir(cache_dir) if n.endswith(".npz")]
  return os.path.join(cache_dir, name)


@pytest.mark.parametrize("damage", ["garbage", "truncated", "wrong_shapes"])
def test_a_corrupt_cache_is_retrained_with_a_warning(digits, tmp_path, damage):
  cfg, _, _, _, (test_x, _) = digits
  first = classifier.load_or_train(cfg, str(tmp_path), seed=0, num_steps=5)
  path = _only_npz(tmp_path)
  if damage == "garbage":
    with open(path, "wb") as f:
      f.write(b"not a zip file")
  elif damage == "truncated":
    with open(path, "rb") as f:
      data = f.read()
    with open(path, "wb") as f:
      f.write(data[:len(data) // 2])
  else:
    params = {"Dense_0": {"kernel": np.zeros((3, 3), np.float32)}}
    cache.save(path, cache.flatten(params), first.metadata, json_copy=True)
  with pytest.warns(cache.CacheWarning, match="retraining"):
    again = classifier.load_or_train(cfg, str(tmp_path), seed=0, num_steps=5)
  assert again.trained
  # Same seed, same settings: the retrained network is the one first trained.
  np.testing.assert_allclose(again.features(test_x), first.features(test_x), rtol=1e-5,
                             atol=1e-5)
  with warnings.catch_warnings():
    warnings.simplefilter("error", cache.CacheWarning)
    assert not classifier.load_or_train(cfg, str(tmp_path), seed=0, num_steps=5).trained


def test_a_failed_cache_write_leaves_the_old_cache_and_no_temporary_file(
    digits, tmp_path, monkeypatch):
  cfg, cache_dir, _, _, _ = digits
  shutil.copytree(cache_dir, tmp_path, dirs_exist_ok=True)
  path = _only_npz(tmp_path)
  with open(path, "rb") as f:
    before = f.read()

  def crash(file, **arrays):
    file.write(b"half a file")
    raise KeyboardInterrupt

  monkeypatch.setattr(classifier.np, "savez", crash)
  with pytest.raises(KeyboardInterrupt):
    cache.save(path, {"w": np.zeros(2)}, {"dataset": "digits"}, json_copy=True)
  with open(path, "rb") as f:
    assert f.read() == before
  assert sorted(os.listdir(tmp_path)) == sorted(os.listdir(cache_dir))


def test_an_extractor_without_probabilities_gives_only_the_distances():

  class Pixels:
    name = "pixels"

    def features(self, images):
      return np.asarray(images, np.float64).reshape(len(images), -1)

    def probabilities(self, images):
      return None

  assert isinstance(Pixels(), classifier.FeatureExtractor)
  rng = np.random.default_rng(0)
  real = rng.uniform(-1, 1, (50, 2, 2, 1))
  fake = rng.uniform(-1, 1, (40, 2, 2, 1))
  result = classifier.image_metrics(Pixels(), fake, real, np.zeros(50, np.int64),
                                    num_classes=10, rng=0)
  assert set(result) == {"fd_pixels", "kid_pixels", "kid_stderr_pixels",
                         "num_samples"}


def test_probabilities_over_other_classes_than_the_dataset_are_rejected(digits):
  _, _, clf, _, (test_x, test_y) = digits
  with pytest.raises(ValueError, match="10 classes; the dataset has 5"):
    classifier.image_metrics(clf, test_x, test_x, test_y, num_classes=5, rng=0)


def test_images_of_the_wrong_shape_are_rejected_naming_the_expected_shape(digits):
  _, _, clf, _, _ = digits
  with pytest.raises(ValueError, match=r"\[N, 8, 8, 1\].*\(4, 28, 28, 1\)"):
    clf.features(np.zeros((4, 28, 28, 1), np.float32))


def test_mnist_shaped_data_trains_and_scores_under_mock_data(tmp_path):
  cfg = dataset_cfg("mnist", str(tmp_path / "tfds"), image_size=28)
  with tfds.testing.mock_data(num_examples=48):
    images, labels = classifier.real_split(cfg, "test", limit=32)
    clf = classifier.load_or_train(cfg, str(tmp_path / "cache"), seed=0, num_steps=2,
                                   batch_size=16)
    result = classifier.image_metrics(clf, images[:16], images, labels, num_classes=10,
                                      rng=0)
  assert images.shape == (32, 28, 28, 1) and images.dtype == np.float32
  assert labels.shape == (32,) and images.min() >= -1.0 and images.max() <= 1.0
  assert clf.name == "mnist classifier" and clf.trained
  assert clf.features(images).shape == (32, 128)
  assert clf.probabilities(images).shape == (32, 10)
  assert 0.0 <= clf.test_accuracy <= 1.0
  assert "fd_mnist_classifier" in result and result["num_classes"] == 10
  assert not (tmp_path / "tfds").exists()


@pytest.mark.parametrize("name", ["celeb_a", "tf_flowers", "no_such_dataset"])
def test_an_unlabelled_or_unknown_dataset_is_one_clear_value_error(tmp_path, name):
  cfg = dataset_cfg(name, str(tmp_path))
  if name != "no_such_dataset":
    assert not classifier.supports(cfg)
  for call in (lambda: classifier.load_or_train(cfg, str(tmp_path), seed=0),
               lambda: classifier.real_split(cfg, "test")):
    with pytest.raises(ValueError, match=rf"'{name}'.*held-out split; allowed: digits, "
                       r"mnist, fashion_mnist, cifar10, folder \(a folder with one "
                       r"sub-folder per class\)"):
      call()
  assert os.listdir(tmp_path) == []


# --- a folder with one sub-folder per class -------------------------------------------

FOLDER_STEPS = 40


def _write_class_folder(root, per_class=18, seed=0):
  """Two classes of grey 8x8 PNGs: "left" bright on the left half, "right" on the right."""
  rng = np.random.default_rng(seed)
  for k, name in enumerate(("left", "right")):
    os.makedirs(os.path.join(root, name), exist_ok=True)
    for i in range(per_class):
      pixels = rng.integers(0, 60, (8, 8), dtype=np.uint8)
      pixels[:, 4 * k:4 * k + 4] += 180
      Image.fromarray(pixels, "L").save(os.path.join(root, name, f"{i:02d}.png"))
  return root


@pytest.fixture(scope="module")
def folder_classifier(tmp_path_factory):
  root = _write_class_folder(str(tmp_path_factory.mktemp("photos")))
  cfg = dataset_cfg("folder", "", path=root)
  cache_dir = str(tmp_path_factory.mktemp("folder_cache"))
  clf = classifier.load_or_train(cfg, cache_dir, seed=0, num_steps=FOLDER_STEPS,
                                 batch_size=16)
  return cfg, cache_dir, clf


def test_a_class_folder_trains_its_classifier_on_five_sixths_of_each_class(
    folder_classifier):
  cfg, _, clf = folder_classifier
  assert classifier.supports(cfg) and classifier.num_classes(cfg) == 2
  assert clf.trained and clf.name == "folder classifier"
  assert clf.image_shape == (8, 8, 1)  # an all-grey folder: one channel
  # 18 per class: images 0, 6, 12 of each class are held out, 15 train.
  assert clf.metadata["num_train_examples"] == 30
  assert clf.metadata["num_test_examples"] == 6
  test_x, test_y = classifier.real_split(cfg, "test")
  np.testing.assert_array_equal(test_y, [0, 1, 0, 1, 0, 1])
  # The halves are separable by a wide margin: a working classifier gets them all.
  assert clf.test_accuracy == 1.0 == clf.accuracy(test_x, test_y)


def test_folder_classifier_cache_is_keyed_by_the_folders_files(folder_classifier,
                                                               tmp_path):
  cfg, cache_dir, clf = folder_classifier
  train = lambda c, d: classifier.load_or_train(c, d, seed=0, num_steps=FOLDER_STEPS,
                                                batch_size=16)
  again = train(cfg, cache_dir)
  assert not again.trained
  assert again.metadata["folder"] == os.path.abspath(cfg.path)
  # The same images under another path, or one more file, are other data.
  other = str(tmp_path / "copy")
  shutil.copytree(cfg.path, other)
  copy_cfg = dataset_cfg("folder", "", path=other)
  cache = str(tmp_path / "cache")
  shutil.copytree(cache_dir, cache)
  assert train(copy_cfg, cache).trained
  Image.fromarray(np.zeros((8, 8), np.uint8), "L").save(os.path.join(other, "left",
                                                                     "extra.png"))
  grown = train(copy_cfg, cache)
  # extra.png sorts 19th in "left": rank 18, a multiple of 6, so it is held out.
  assert grown.trained and grown.metadata["num_test_examples"] == 7
  digests = {json.load(open(os.path.join(cache, n)))["folder_digest"]
             for n in os.listdir(cache) if n.endswith(".json")}
  assert len(digests) == 2 and len(os.listdir(cache)) == 6  # three npz + json pairs


def test_an_unlabelled_folder_is_one_clear_error_saying_why(tmp_path):
  Image.fromarray(np.zeros((8, 8), np.uint8), "L").save(tmp_path / "a.png")
  cfg = dataset_cfg("folder", "", path=str(tmp_path))
  assert not classifier.supports(cfg)
  with pytest.raises(ValueError, match="has no class labels: 1 of its 1 images lie "
                                       "directly in it"):
    classifier.real_split(cfg, "train")


# --- the accuracy floor: a classifier below it is flagged, not trusted ----------------

def test_the_floor_is_twice_chance_at_least_a_half_and_never_perfection():
  assert classifier.accuracy_floor(10) == 0.5
  assert classifier.accuracy_floor(3) == pytest.approx(2 / 3)
  assert classifier.accuracy_floor(2) == 0.75  # halfway from chance, not 2 x chance = 1
  assert "untrustworthy" not in classifier.trust(0.97, 10)
  verdict = classifier.trust(0.4, 2)
  assert verdict["test_accuracy"] == 0.4 and verdict["chance"] == 0.5
  assert "held-out accuracy 0.400 is below its floor 0.750" in verdict["untrustworthy"]


@pytest.mark.slow
def test_a_classifier_of_two_classes_of_noise_is_flagged_in_the_json_and_the_line(tmp_path):
  photos = tmp_path / "photos"
  rng = np.random.default_rng(0)
  for name in ("cats", "dogs"):  # the same noise under two names: nothing to learn
    (photos / name).mkdir(parents=True)
    for i in range(60):
      Image.fromarray(rng.integers(0, 256, (8, 8), np.uint8)).save(photos / name / f"{i}.png")
  workdir = tmp_path / "run"
  result = launch("--config=configs/wgan_gp.py:dataset=folder", f"--workdir={workdir}",
                  f"--config.dataset.path={photos}", "--config.dataset.image_size=8",
                  "--config.model.width=4", "--config.train.batch_size=8",
                  "--config.train.num_steps=2", "--config.log.eval_every=2",
                  "--config.eval.num_samples=50", "--config.eval.kid_subsets=2",
                  f"--config.eval.classifier_dir={tmp_path / 'cache'}", timeout=600)
  assert result.returncode == 0, result.stderr[-2000:]
  with open(workdir / "eval" / "step_000002.json") as f:
    verdict = json.load(f)["classifier"]
  assert verdict["floor"] == 0.75 and verdict["test_accuracy"] < 0.75
  assert "is below its floor 0.750" in verdict["untrustworthy"]
  (line,) = [l for l in result.stdout.splitlines() if "eval at step 2" in l]
  assert "CLASSIFIER METRICS UNTRUSTWORTHY: the classifier's held-out accuracy" in line
  assert "classifier: about" in result.stdout  # its training time, estimated up front
  (meta,) = [n for n in os.listdir(tmp_path / "cache") if n.startswith("classifier_")
             and n.endswith(".json")]
  with open(tmp_path / "cache" / meta) as f:
    key = json.load(f)
  assert key["folder"] == str(photos) and key["held_out_every"] == 6 and key["folder_digest"]
