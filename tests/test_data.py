"""The data package, offline: the dataset registry, the toy sets, the local digits
TFDS builder, TFDS datasets under tfds.testing.mock_data, image folders (classes,
grey images, bad files), and the iterator contract: per-process items, exact resume,
disjoint process shards, labels drawn with their images. Temporary data_dirs and
folders only; nothing touches ~/tensorflow_datasets or the network."""

import logging
import os
import subprocess
import sys

import ml_collections
import numpy as np
import pytest
from PIL import Image
from sklearn import datasets as sk_datasets

from jaxgan import data
from jaxgan.data import digits
from jaxgan.data import folder
from jaxgan.data import registry
from jaxgan.data import toy


def dataset_cfg(name, **overrides):
  cfg = dict(name=name, data_dir="", path="", image_size=8, channels=0,
             shuffle_buffer=64)
  cfg.update(overrides)
  return ml_collections.ConfigDict(cfg)


def take(iterator, n):
  return np.stack([next(iterator) for _ in range(n)])


def take_labelled(iterator, n):
  images, labels = zip(*[next(iterator) for _ in range(n)])
  return np.stack(images), np.stack(labels)


def save_png(path, pixels, mode=None):
  os.makedirs(os.path.dirname(path), exist_ok=True)
  Image.fromarray(pixels, mode).save(path)


def levels(items):
  """Pixel values of float items in [-1, 1] as uint8 levels (exact at native size)."""
  x = (np.asarray(items) + 1) * 127.5
  np.testing.assert_allclose(x, np.round(x), atol=1e-3)
  return np.round(x).astype(int)


# --- fixtures ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def digits_dir(tmp_path_factory):
  """A data_dir with digits prepared once for the module."""
  data_dir = str(tmp_path_factory.mktemp("tfds"))
  digits.Digits(data_dir=data_dir).download_and_prepare()
  return data_dir


NUM_GREYS = 11


@pytest.fixture(scope="module")
def grey_folder(tmp_path_factory):
  """11 flat 8x8 RGB PNGs, image i filled with level 20*i: pixels identify images."""
  root = tmp_path_factory.mktemp("greys")
  for i in range(NUM_GREYS):
    save_png(str(root / f"g{i:02d}.png"), np.full((8, 8, 3), 20 * i, np.uint8))
  return str(root)


def grey_ids(items):
  """The image index i of every example of grey_folder items (level / 20)."""
  x = levels(items).reshape(-1, 8 * 8 * 3)
  assert np.all(x == x[:, :1])  # every pixel of an example has the image's level
  return x[:, 0] // 20


# Class sub-folders written out of sorted order; image id i has level 10*i + 5.
CLASSES = {"cat": (0, 1, 2), "ant": (3, 4, 5, 6), "bee": (7, 8, 9, 10, 11)}
CLASS_OF_ID = {i: sorted(CLASSES).index(c) for c, ids in CLASSES.items() for i in ids}


@pytest.fixture(scope="module")
def class_folder(tmp_path_factory):
  root = tmp_path_factory.mktemp("classes")
  for name, ids in CLASSES.items():
    for i in ids:
      save_png(str(root / name / f"{i:02d}.png"), np.full((8, 8, 3), 10 * i + 5, np.uint8))
  return str(root)


def class_ids(items):
  x = levels(items).reshape(-1, 8 * 8 * 3)
  return (x[:, 0] - 5) // 10


# --- the registry ------------------------------------------------------------------


def test_registry_entries_agree_with_the_tfds_builders_metadata(digits_dir):
  import tensorflow_datasets as tfds
  for name in registry.names(registry.TFDS):
    entry = registry.info(name)
    if entry.local_builder:
      builder = digits.Digits(data_dir=digits_dir)
    else:
      builder = tfds.builder(entry.tfds_name, data_dir=digits_dir)
    features = builder.info.features
    height, width, channels = features["image"].shape
    assert channels == entry.channels, name
    assert ("label" in features) == entry.labelled, name
    if entry.in_memory:  # decoded once into memory: needs one fixed native size
      assert height == width == entry.image_size, name


def test_registry_kinds_and_defaults_are_consistent():
  for name, entry in registry.DATASETS.items():
    assert entry.kind in (registry.TOY, registry.TFDS, registry.FOLDER), name
    if entry.kind == registry.TOY:
      assert (entry.channels, entry.image_size, entry.labelled) == (0, 0, False), name
    else:
      assert entry.image_size >= 1 and entry.channels in (1, 3, None), name
    assert (entry.tfds_name is not None) == (entry.kind == registry.TFDS), name
    assert not entry.in_memory or entry.kind == registry.TFDS, name
  assert registry.names(registry.TOY) == ("8gaussians", "25gaussians", "swissroll")


def test_unknown_dataset_name_is_one_error_listing_the_allowed_names():
  allowed = ", ".join(registry.NAMES)
  with pytest.raises(ValueError, match=rf"unknown dataset 'imagenet'; allowed: {allowed}$"):
    registry.info("imagenet")
  for call in (lambda: data.data_shape(dataset_cfg("imagenet")),
               lambda: data.make_iterator(dataset_cfg("imagenet"), global_batch_size=4,
                                          n_critic=1, seed=0)):
    with pytest.raises(ValueError, match=r"'imagenet'; allowed: digits, mnist"):
      call()
  with pytest.raises(ValueError, match=r"unknown toy dataset '9gaussians'; allowed: "
                                       r"8gaussians, 25gaussians, swissroll$"):
    toy.sample("9gaussians", np.random.default_rng(0), 1)
  with pytest.raises(ValueError, match="unknown toy dataset 'mnist'"):
    toy.modes("mnist")


# --- toy sets: the WGAN-GP authors' generators -------------------------------------


def test_toy_mode_centres_are_the_authors_ring_and_grid_scaled():
  r = 0.5**0.5
  ring = np.array([(1, 0), (-1, 0), (0, 1), (0, -1), (r, r), (r, -r), (-r, r), (-r, -r)])
  np.testing.assert_allclose(toy.modes("8gaussians"), 2 * ring / 1.414, rtol=1e-6,
                             atol=1e-7)
  grid = np.array([(2 * x, 2 * y) for x in range(-2, 3) for y in range(-2, 3)])
  np.testing.assert_allclose(toy.modes("25gaussians"), grid / 2.828, rtol=1e-6)
  assert toy.mode_std("8gaussians") == pytest.approx(0.02 / 1.414)
  assert toy.mode_std("25gaussians") == pytest.approx(0.05 / 2.828)


@pytest.mark.parametrize("name", ["8gaussians", "25gaussians"])
def test_mixture_points_cover_every_mode_with_the_stated_std(name):
  points = toy.sample(name, np.random.default_rng(0), 20_000)
  centres = toy.modes(name)
  nearest = np.argmin(np.linalg.norm(points[:, None] - centres[None], axis=-1), axis=1)
  residual = points - centres[nearest]
  # Uniform mode choice: every mode near n/M points.
  assert np.bincount(nearest, minlength=len(centres)).min() > 0.7 * len(points) / len(centres)
  np.testing.assert_allclose(residual.std(axis=0), toy.mode_std(name), rtol=0.05)
  assert np.abs(residual).max() < 6 * toy.mode_std(name)


def test_swissroll_is_sklearn_roll_columns_0_and_2_divided_by_7_5():
  points = toy.sample("swissroll", np.random.default_rng(5), 500)
  # sample() draws sklearn's seed as its first use of rng.
  sk_seed = int(np.random.default_rng(5).integers(0, 2**31 - 1))
  roll = sk_datasets.make_swiss_roll(500, noise=0.25, random_state=sk_seed)[0]
  np.testing.assert_allclose(points, roll[:, [0, 2]] / 7.5, rtol=1e-6)
  for fn in (toy.modes, toy.mode_std):
    with pytest.raises(ValueError, match="no discrete modes"):
      fn("swissroll")


@pytest.mark.parametrize("name", registry.names(registry.TOY))
def test_toy_sample_is_a_function_of_the_generator_state(name):
  a = toy.sample(name, np.random.default_rng(3), 100)
  assert a.shape == (100, 2) and a.dtype == np.float32
  np.testing.assert_array_equal(a, toy.sample(name, np.random.default_rng(3), 100))
  assert not np.array_equal(a, toy.sample(name, np.random.default_rng(4), 100))


# --- digits: a real local TFDS builder ---------------------------------------------


def test_digits_pixels_scale_0_16_to_0_255_and_every_sixth_is_test():
  np.testing.assert_array_equal(digits.to_uint8(np.array([0, 1, 8, 15, 16])),
                                [0, 16, 128, 239, 255])
  train = digits.split_indices(1797, "train")
  test = digits.split_indices(1797, "test")
  assert len(test) == 300 and len(train) == 1497 and np.all(test % 6 == 0)
  np.testing.assert_array_equal(np.sort(np.concatenate([train, test])), np.arange(1797))


def test_digits_tfrecords_hold_sklearns_images_and_labels(digits_dir):
  import tensorflow_datasets as tfds
  builder = digits.Digits(data_dir=digits_dir)
  assert any(n.startswith("digits-train.tfrecord")
             for n in os.listdir(os.path.join(digits_dir, "digits", "1.0.0")))
  sk = sk_datasets.load_digits()
  key = lambda ims, ls: sorted(im.tobytes() + bytes([l]) for im, l in zip(ims, ls))
  for split in ("train", "test"):
    ex = tfds.as_numpy(builder.as_dataset(split=split, batch_size=-1))
    idx = digits.split_indices(1797, split)
    # Same multiset of (image, label) as sklearn's split; TFDS reorders examples.
    assert key(ex["image"], ex["label"]) == key(
        digits.to_uint8(sk.images[idx])[..., None], sk.target[idx])
    assert np.bincount(ex["label"], minlength=10).min() >= 0.8 * len(idx) / 10


# --- the iterator contract: shapes, processes, resume ------------------------------


def test_data_shape_follows_the_registry_and_dataset_channels():
  for name, channels in [("digits", 1), ("mnist", 1), ("fashion_mnist", 1),
                         ("cifar10", 3), ("tf_flowers", 3), ("celeb_a", 3)]:
    assert data.data_shape(dataset_cfg(name, image_size=12)) == (12, 12, channels)
    for forced in (1, 3):
      assert data.data_shape(dataset_cfg(name, channels=forced)) == (8, 8, forced)
  for name in registry.names(registry.TOY):
    assert data.data_shape(dataset_cfg(name, image_size=0)) == (2,)


def test_toy_items_are_this_processes_slice_of_the_global_batch():
  cfg = dataset_cfg("25gaussians", image_size=0)
  kwargs = dict(global_batch_size=8, n_critic=3, seed=3)
  whole = next(data.make_iterator(cfg, **kwargs))
  halves = []
  for i in range(2):
    it = data.make_iterator(cfg, process_index=i, process_count=2, **kwargs)
    halves.append(next(it))
    assert halves[-1].shape == (3, 4, 2) and it.position == 1
  np.testing.assert_array_equal(np.concatenate(halves, axis=1), whole)
  assert whole.dtype == np.float32


def test_indivisible_global_batch_names_the_process_count():
  with pytest.raises(ValueError, match="global batch size 10 is not divisible by the "
                                       "process count 3"):
    data.make_iterator(dataset_cfg("8gaussians"), global_batch_size=10, n_critic=1,
                       seed=0, process_count=3)


@pytest.mark.parametrize("name,with_labels", [("digits", False), ("digits", True),
                                              ("swissroll", False)])
def test_iterator_from_position_p_yields_what_uninterrupted_yields_from_p(
    name, with_labels, digits_dir):
  cfg = dataset_cfg(name, data_dir=digits_dir)
  kwargs = dict(global_batch_size=16, n_critic=5, seed=7, with_labels=with_labels)
  grab = take_labelled if with_labels else lambda it, n: (take(it, n),)
  # 80 digits per item, 1497 per epoch: 40 items span three epochs.
  reference = grab(data.make_iterator(cfg, **kwargs), 40)
  for p in (1, 18, 19, 37):
    resumed = data.make_iterator(cfg, position=p, **kwargs)
    assert resumed.position == p
    for got, want in zip(grab(resumed, 3), reference):
      np.testing.assert_array_equal(got, want[p:p + 3])
    assert resumed.position == p + 3


def test_digits_epoch_is_every_train_image_once_at_exact_levels_then_reshuffled(
    digits_dir):
  import tensorflow_datasets as tfds
  it = data.make_iterator(dataset_cfg("digits", data_dir=digits_dir),
                          global_batch_size=1497, n_critic=1, seed=1)
  epochs = [levels(next(it)[0]) for _ in range(2)]
  train = tfds.as_numpy(digits.Digits(data_dir=digits_dir).as_dataset(
      split="train", batch_size=-1))["image"]
  expected = sorted(im.astype(int).tobytes() for im in train)
  for epoch in epochs:
    assert sorted(x.tobytes() for x in epoch) == expected
  assert not np.array_equal(epochs[0], epochs[1])


def test_digits_process_shards_are_disjoint_and_together_the_train_split(digits_dir):
  import tensorflow_datasets as tfds
  cfg = dataset_cfg("digits", data_dir=digits_dir)
  builder = digits.Digits(data_dir=digits_dir)
  rows = lambda images: [x.tobytes() for x in levels(images).reshape(-1, 64)]
  shards = []
  for i in range(2):
    split = tfds.split_for_jax_process("train", process_index=i, process_count=2)
    n = int(builder.as_dataset(split=split).cardinality())
    # One item of n examples per process: one whole epoch of its shard.
    it = data.make_iterator(cfg, global_batch_size=2 * n, n_critic=1, seed=0,
                            process_index=i, process_count=2)
    shards.append(rows(next(it)))
  train = tfds.as_numpy(builder.as_dataset(split="train", batch_size=-1))["image"]
  # Digits has duplicate images, so compare multisets.
  assert sorted(shards[0] + shards[1]) == sorted(rows(train / 127.5 - 1))


def test_digits_labels_are_sklearns_targets_of_the_images_they_come_with(digits_dir):
  cfg = dataset_cfg("digits", data_dir=digits_dir)
  kwargs = dict(global_batch_size=32, n_critic=5, seed=4)
  images, labels = take_labelled(data.make_iterator(cfg, with_labels=True, **kwargs), 12)
  np.testing.assert_array_equal(images, take(data.make_iterator(cfg, **kwargs), 12))
  assert labels.shape == (12, 5, 32) and labels.dtype == np.int32
  sk = sk_datasets.load_digits()
  targets = {}
  for image, target in zip(digits.to_uint8(sk.images), sk.target):
    targets.setdefault(image.astype(int).tobytes(), set()).add(int(target))
  for image, label in zip(levels(images).reshape(-1, 8, 8), labels.reshape(-1)):
    assert label in targets[image.tobytes()]
  assert len(np.unique(labels)) == 10


# --- TFDS datasets under mock data -------------------------------------------------


@pytest.mark.parametrize("name,size,channels", [
    ("mnist", 28, 1), ("fashion_mnist", 28, 1), ("cifar10", 32, 3),
    ("cifar10", 16, 3),  # resized
    ("tf_flowers", 16, 3), ("celeb_a", 16, 3),  # variable size / centre crop, streamed
])
def test_tfds_datasets_yield_scaled_images_with_their_channels(tmp_path, name, size,
                                                               channels):
  import tensorflow_datasets as tfds
  cfg = dataset_cfg(name, data_dir=str(tmp_path), image_size=size)
  with tfds.testing.mock_data(num_examples=12):
    items = take(data.make_iterator(cfg, global_batch_size=4, n_critic=2, seed=0), 3)
  assert items.shape == (3, 2, 4, size, size, channels) and items.dtype == np.float32
  assert items.min() >= -1.0 and items.max() <= 1.0
  assert np.std(items) > 0.01  # real pixels, not a constant


@pytest.mark.parametrize("name", ["mnist", "tf_flowers"])  # in memory, streamed
def test_tfds_labels_come_with_their_images_and_resume_exactly(tmp_path, name):
  import tensorflow_datasets as tfds
  from jaxgan.data import load
  cfg = dataset_cfg(name, data_dir=str(tmp_path))
  kwargs = dict(global_batch_size=4, n_critic=1, seed=3)  # 4 per item, 10 per epoch
  with tfds.testing.mock_data(num_examples=10):
    plain = take(data.make_iterator(cfg, **kwargs), 6)
    images, labels = take_labelled(data.make_iterator(cfg, with_labels=True, **kwargs), 6)
    resumed = take_labelled(data.make_iterator(cfg, position=2, with_labels=True,
                                               **kwargs), 4)
    split, split_labels = load.load_split(cfg, "train", with_labels=True)
  np.testing.assert_array_equal(images, plain)
  np.testing.assert_array_equal(resumed[0], images[2:])
  np.testing.assert_array_equal(resumed[1], labels[2:])
  # Every (image, label) pair is one of the split's, as loaded in stored order.
  pairs = {x.tobytes(): int(y) for x, y in zip(split, split_labels)}
  assert len(pairs) == 10
  for image, label in zip(images.reshape(-1, *split.shape[1:]), labels.reshape(-1)):
    assert pairs[image.tobytes()] == label


def test_forced_channels_repeat_grey_images_and_take_the_luma_of_colour(tmp_path):
  import tensorflow_datasets as tfds
  kwargs = dict(global_batch_size=4, n_critic=1, seed=0)
  mnist = lambda **kw: dataset_cfg("mnist", data_dir=str(tmp_path), image_size=28, **kw)
  cifar = lambda **kw: dataset_cfg("cifar10", data_dir=str(tmp_path), image_size=32, **kw)
  with tfds.testing.mock_data(num_examples=8):
    grey = next(data.make_iterator(mnist(), **kwargs))
    grey3 = next(data.make_iterator(mnist(channels=3), **kwargs))
    colour = next(data.make_iterator(cifar(), **kwargs))
    colour1 = next(data.make_iterator(cifar(channels=1), **kwargs))
  np.testing.assert_array_equal(grey3, np.repeat(grey, 3, axis=-1))
  luma = (levels(colour) * [0.2989, 0.5870, 0.1140]).sum(-1, keepdims=True)
  np.testing.assert_allclose((colour1 + 1) * 127.5, luma, atol=1e-3)


@pytest.mark.parametrize("name", ["cifar10", "tf_flowers", "celeb_a"])
def test_missing_tfds_dataset_is_one_error_naming_it_the_dir_and_the_fix(tmp_path, name):
  cfg = dataset_cfg(name, data_dir=str(tmp_path / "nowhere"))
  with pytest.raises(data.DatasetNotPreparedError) as info:
    data.make_iterator(cfg, global_batch_size=4, n_critic=1, seed=0)
  message = str(info.value)
  assert repr(name) in message and str(tmp_path / "nowhere") in message
  assert f"tfds build {name}" in message and "downloads/manual" in message
  assert "\n" not in message and isinstance(info.value, ValueError)


# --- image folders: the streamed path ----------------------------------------------


def test_folder_stream_resumes_exactly_and_each_epoch_is_a_new_permutation(grey_folder):
  cfg = dataset_cfg("folder", path=grey_folder)
  kwargs = dict(global_batch_size=3, n_critic=2, seed=5)  # 6 per item, 11 per epoch
  reference = take(data.make_iterator(cfg, **kwargs), 12)
  assert reference.shape == (12, 2, 3, 8, 8, 3)
  for p in (1, 2, 7, 9):
    resumed = data.make_iterator(cfg, position=p, **kwargs)
    np.testing.assert_array_equal(take(resumed, 3), reference[p:p + 3])
    assert resumed.position == p + 3
  ids = grey_ids(reference)
  for epoch in range(6):
    assert sorted(ids[11 * epoch:11 * (epoch + 1)]) == list(range(NUM_GREYS))
  assert list(ids[:11]) != list(ids[11:22])


def test_folder_process_shards_are_disjoint_and_complete(grey_folder):
  cfg = dataset_cfg("folder", path=grey_folder)
  shards = []
  for p in range(3):
    it = data.make_iterator(cfg, global_batch_size=3, n_critic=1, seed=0,
                            process_index=p, process_count=3)
    size = len(range(p, NUM_GREYS, 3))  # 4, 4, 3
    shards.append(set(grey_ids(take(it, size))))
    assert len(shards[-1]) == size  # one epoch of a shard: no repeats
  assert not (shards[0] & shards[1] or shards[0] & shards[2] or shards[1] & shards[2])
  assert set.union(*shards) == set(range(NUM_GREYS))


def test_folder_class_ids_are_sorted_subfolders_and_come_with_their_images(class_folder):
  cfg = dataset_cfg("folder", path=class_folder)
  assert data.class_names(cfg) == ("ant", "bee", "cat")
  kwargs = dict(global_batch_size=4, n_critic=2, seed=1)  # 8 per item, 12 per epoch
  images, labels = take_labelled(data.make_iterator(cfg, with_labels=True, **kwargs), 6)
  np.testing.assert_array_equal(images, take(data.make_iterator(cfg, **kwargs), 6))
  assert labels.shape == (6, 2, 4) and labels.dtype == np.int32
  np.testing.assert_array_equal(labels.reshape(-1),
                                [CLASS_OF_ID[i] for i in class_ids(images)])
  resumed = take_labelled(data.make_iterator(cfg, position=3, with_labels=True, **kwargs), 3)
  np.testing.assert_array_equal(resumed[0], images[3:])
  np.testing.assert_array_equal(resumed[1], labels[3:])


def _write_layout(root, layout):
  for i, rel in enumerate(layout):
    save_png(os.path.join(root, rel), np.full((8, 8, 3), i, np.uint8))


@pytest.mark.parametrize("name,layout,why", [
    ("8gaussians", None, r"'8gaussians' has no class labels \(it is 2-D points\)"),
    ("celeb_a", None, r"'celeb_a' has no class labels \(its TFDS features have no "
                      r"'label'\); labelled: digits, mnist, fashion_mnist, cifar10, "
                      r"tf_flowers, folder \(a folder with one sub-folder per class\)"),
    ("folder", ["a.png", "b.png"], "2 of its 2 images lie directly in it"),
    ("folder", ["x/a.png", "x/b.png"], r"all its images are in one sub-folder \('x'\)"),
    ("folder", ["x/a.png", "y/b.png", "c.png"], "1 of its 3 images lie directly in it"),
])
def test_labels_of_unlabelled_data_are_one_clear_error(tmp_path, name, layout, why):
  cfg = dataset_cfg(name, path=str(tmp_path))
  if layout:
    _write_layout(str(tmp_path), layout)
  for call in (lambda: data.make_iterator(cfg, global_batch_size=2, n_critic=1, seed=0,
                                          with_labels=True),
               lambda: data.class_names(cfg)):
    with pytest.raises(ValueError, match=why):
      call()
  if name == "folder":  # unlabelled images still train unconditionally
    item = next(data.make_iterator(cfg, global_batch_size=2, n_critic=1, seed=0))
    assert item.shape == (1, 2, 8, 8, 3)


def test_folder_evaluation_split_holds_out_every_sixth_image_of_each_class(tmp_path):
  from jaxgan.data import load
  counts = {"a": 13, "b": 7}  # test: a 0, 6, 12; b 0, 6
  for name, n in counts.items():
    for i in range(n):
      level = (100 if name == "b" else 0) + i
      save_png(str(tmp_path / name / f"{i:02d}.png"), np.full((4, 4), level, np.uint8))
  cfg = dataset_cfg("folder", path=str(tmp_path), image_size=4)
  test_x, test_y = load.load_split(cfg, "test", with_labels=True)
  train_x, train_y = load.load_split(cfg, "train", with_labels=True)
  # Ordered by rank within the class, then class: prefixes hold both classes.
  assert list(levels(test_x)[:, 0, 0, 0]) == [0, 100, 6, 106, 12]
  np.testing.assert_array_equal(test_y, [0, 1, 0, 1, 0])
  train_levels = levels(train_x)[:, 0, 0, 0]
  assert sorted(train_levels) == [1, 2, 3, 4, 5, 7, 8, 9, 10, 11, 101, 102, 103, 104, 105]
  np.testing.assert_array_equal(train_y, train_levels >= 100)
  assert train_x.shape == (15, 4, 4, 1)  # an all-grey folder: one channel
  assert load.load_split(cfg, "train", with_labels=True, limit=4)[1].tolist() == [0, 1, 0, 1]


# --- image folders: channels -------------------------------------------------------


@pytest.mark.parametrize("mode,grey", [("L", True), ("LA", True), ("I;16", True),
                                       ("1", True), ("P", True), ("RGB", False),
                                       ("RGBA", False), ("P colour", False)])
def test_folder_greyness_follows_the_pil_mode(tmp_path, mode, grey):
  pixels = np.arange(64, dtype=np.uint8).reshape(8, 8) * 4
  image = Image.fromarray(pixels, "L")
  if mode == "P colour":
    image = Image.fromarray(np.stack([pixels, pixels[::-1], pixels.T], -1)).quantize(8)
  elif mode == "I;16":
    image = Image.fromarray(pixels.astype(np.uint16) * 257)
  else:
    image = image.convert(mode)
  image.save(tmp_path / "im.png")
  assert Image.open(tmp_path / "im.png").mode == mode.split()[0]
  assert folder.read_folder(str(tmp_path)).all_grey == grey


def test_grey_folder_trains_with_one_channel_unless_forced_to_three(tmp_path):
  for i in range(3):
    save_png(str(tmp_path / f"{i}.png"), np.full((8, 8), 40 * i + 1, np.uint8), "L")
  Image.fromarray(np.full((8, 8), 200, np.uint8)).save(tmp_path / "j.jpg", quality=100)
  cfg = dataset_cfg("folder", path=str(tmp_path))
  assert data.data_shape(cfg) == (8, 8, 1)
  kwargs = dict(global_batch_size=4, n_critic=1, seed=0)
  item = next(data.make_iterator(cfg, **kwargs))
  assert item.shape == (1, 4, 8, 8, 1)
  assert sorted(levels(item)[0, :, 0, 0, 0]) == [1, 41, 81, 200]
  cfg.channels = 3
  assert data.data_shape(cfg) == (8, 8, 3)
  np.testing.assert_array_equal(next(data.make_iterator(cfg, **kwargs)),
                                np.repeat(item, 3, axis=-1))


def test_colour_folder_forced_to_one_channel_takes_the_luma(tmp_path):
  pixels = np.random.default_rng(0).integers(0, 256, (8, 8, 3), dtype=np.uint8)
  save_png(str(tmp_path / "c.png"), pixels)
  cfg = dataset_cfg("folder", path=str(tmp_path), channels=1)
  item = next(data.make_iterator(cfg, global_batch_size=1, n_critic=1, seed=0))
  luma = (pixels * np.array([0.2989, 0.5870, 0.1140])).sum(-1, keepdims=True)
  np.testing.assert_allclose((item[0, 0] + 1) * 127.5, luma, atol=1e-3)


def test_mixed_grey_and_rgba_folder_is_rgb_with_grey_repeated_and_alpha_dropped(
    tmp_path):
  save_png(str(tmp_path / "grey.png"), np.full((8, 8), 200, np.uint8), "L")
  rgba = np.zeros((8, 8, 4), np.uint8)
  rgba[..., 0], rgba[..., 3] = 255, 128
  save_png(str(tmp_path / "rgba.png"), rgba, "RGBA")
  item = next(data.make_iterator(dataset_cfg("folder", path=str(tmp_path)),
                                 global_batch_size=2, n_critic=1, seed=0))
  assert item.shape == (1, 2, 8, 8, 3)
  by_red = sorted(item[0], key=lambda x: x[0, 0, 0])
  np.testing.assert_allclose(by_red[0], 200 / 127.5 - 1, atol=1e-6)
  np.testing.assert_allclose(by_red[1][..., 0], 1.0)
  np.testing.assert_allclose(by_red[1][..., 1:], -1.0)


def test_folder_downscales_with_centre_crop(tmp_path):
  # 24x12: left/right quarters black, centre 12x12 white -> centre crop is all white.
  pixels = np.zeros((12, 24, 3), np.uint8)
  pixels[:, 6:18] = 255
  save_png(str(tmp_path / "wide.png"), pixels)
  item = next(data.make_iterator(dataset_cfg("folder", path=str(tmp_path), image_size=4),
                                 global_batch_size=1, n_critic=1, seed=0))
  np.testing.assert_allclose(item, 1.0, atol=1e-5)


# --- image folders: bad files ------------------------------------------------------


def test_folder_skips_and_counts_unreadable_files_and_ignores_others(tmp_path, caplog):
  for i in range(2):
    save_png(str(tmp_path / f"ok{i}.png"), np.zeros((8, 8, 3), np.uint8))
  (tmp_path / "bad1.png").write_bytes(b"\x89PNG garbage")
  (tmp_path / "bad2.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
  (tmp_path / "notes.txt").write_text("not an image")
  (tmp_path / "._ok0.png").write_bytes(b"macOS resource fork")
  with caplog.at_level(logging.INFO):
    images = folder.read_folder(str(tmp_path))
    item = next(data.make_iterator(dataset_cfg("folder", path=str(tmp_path)),
                                   global_batch_size=2, n_critic=1, seed=0))
  assert [os.path.basename(p) for p in images.files] == ["ok0.png", "ok1.png"]
  assert item.shape == (1, 2, 8, 8, 3)
  assert "skipped 2 unreadable image file(s) of 4" in caplog.text
  assert 0 < caplog.text.index("bad1.png") < caplog.text.index("bad2.jpg")  # named
  assert "ignored 1 file(s) that are not .jpg/.jpeg/.png" in caplog.text  # notes.txt


def test_truncated_jpeg_is_rejected(tmp_path):
  pixels = np.random.default_rng(0).integers(0, 256, (12, 20, 3), dtype=np.uint8)
  Image.fromarray(pixels).save(tmp_path / "a.jpg")
  path = tmp_path / "a.jpg"
  path.write_bytes(path.read_bytes()[:-40])  # a truncated copy
  assert "truncated" in folder._inspect(str(path))[0]  # the pre-training check


@pytest.mark.parametrize("setup,message", [
    ("empty", "holds no usable JPEG/PNG image"),
    ("only_bad", r"holds no usable JPEG/PNG image \(1 unreadable, 1 other files\)"),
    ("missing", "is not a directory"),
])
def test_unusable_folders_are_one_clear_error(tmp_path, setup, message):
  root = tmp_path / "photos"
  if setup != "missing":
    root.mkdir()
  if setup == "only_bad":
    (root / "a.png").write_bytes(b"garbage")
    (root / "b.txt").write_text("x")
  cfg = dataset_cfg("folder", path=str(root))
  for call in (lambda: data.data_shape(cfg),
               lambda: data.make_iterator(cfg, global_batch_size=2, n_critic=1, seed=0)):
    with pytest.raises(ValueError, match=message):
      call()


def test_folder_image_failing_to_decode_mid_run_is_named(tmp_path):
  save_png(str(tmp_path / "ok.png"), np.zeros((8, 8, 3), np.uint8))
  pixels = np.random.default_rng(0).integers(0, 256, (32, 32, 3), dtype=np.uint8)
  Image.fromarray(pixels).save(tmp_path / "zeroed.jpg", "JPEG")
  raw = bytearray((tmp_path / "zeroed.jpg").read_bytes())
  middle = len(raw) // 3
  raw[middle:middle + 200] = bytes(200)  # header and end marker intact
  (tmp_path / "zeroed.jpg").write_bytes(bytes(raw))
  it = data.make_iterator(dataset_cfg("folder", path=str(tmp_path)),
                          global_batch_size=2, n_critic=1, seed=0)
  with pytest.raises(ValueError, match=r"failed to decode during training; "
                                       r"undecodable files: .*zeroed\.jpg"):
    next(it)


def test_folder_scan_is_reused_until_a_file_changes(tmp_path):
  save_png(str(tmp_path / "a.png"), np.zeros((8, 8), np.uint8), "L")
  first = folder.read_folder(str(tmp_path))
  assert folder.read_folder(str(tmp_path)) is first and first.all_grey
  save_png(str(tmp_path / "b.png"), np.zeros((8, 8, 3), np.uint8))
  second = folder.read_folder(str(tmp_path))
  assert len(second.files) == 2 and not second.all_grey
  os.remove(tmp_path / "b.png")
  assert folder.read_folder(str(tmp_path)).files == first.files


# --- determinism across processes --------------------------------------------------


@pytest.mark.slow
def test_streams_are_the_same_in_a_fresh_process(digits_dir, class_folder):
  """A resume runs in a new process: shuffles must not depend on process state."""
  cfgs = [dataset_cfg("digits", data_dir=digits_dir), dataset_cfg("folder",
                                                                  path=class_folder)]
  code = ("import ml_collections, os; from jaxgan import data\n"
          f"for cfg in {[c.to_dict() for c in cfgs]!r}:\n"
          "  it = data.make_iterator(ml_collections.ConfigDict(cfg), global_batch_size=4,"
          " n_critic=2, seed=5, position=4, with_labels=True)\n"
          "  images, labels = next(it)\n"
          "  print(images.tobytes().hex(), labels.tobytes().hex())\n"
          "os._exit(0)")
  out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       check=True, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
  lines = out.stdout.strip().splitlines()[-2:]
  for cfg, line in zip(cfgs, lines):
    images, labels = take_labelled(data.make_iterator(
        cfg, global_batch_size=4, n_critic=2, seed=5, with_labels=True), 5)
    assert line == f"{images[4].tobytes().hex()} {labels[4].tobytes().hex()}"
