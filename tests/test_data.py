"""The data package, offline: the local digits TFDS builder, TFDS datasets under
tfds.testing.mock_data, image folders (sub-folders, bad files, empty), the toy
sets, per-process shards, per-device items and exact resume."""

import os

import ml_collections
import numpy as np
import pytest
import tensorflow_datasets as tfds
from PIL import Image

from jaxgan import data
from jaxgan.data import digits, toy


def _cfg(name, tmp_path, *, image_size=8, path=""):
  return ml_collections.ConfigDict(dict(name=name, data_dir=str(tmp_path / "tfds"),
                                        path=path, image_size=image_size,
                                        shuffle_buffer=64))


def _take(iterator, n):
  return [next(iterator) for _ in range(n)]


# --- digits: a real local TFDS builder -----------------------------------------------


@pytest.fixture(scope="module")
def digits_dir(tmp_path_factory):
  root = tmp_path_factory.mktemp("digits")
  builder = digits.Digits(data_dir=str(root / "tfds"))
  builder.download_and_prepare()
  return root


def test_digits_builder_writes_real_tfrecords_with_both_splits(digits_dir):
  builder = digits.Digits(data_dir=str(digits_dir / "tfds"))
  assert builder.is_prepared()
  train = builder.info.splits["train"].num_examples
  test = builder.info.splits["test"].num_examples
  assert train + test == 1797 and 250 < test < 350
  ds = tfds.as_numpy(builder.as_dataset(split="test", batch_size=-1))
  assert ds["image"].shape == (test, 8, 8, 1) and ds["image"].dtype == np.uint8
  assert set(np.unique(ds["label"])) == set(range(10))
  assert ds["image"].max() == 255  # sklearn's 0..16 scaled to the full uint8 range


def test_digits_items_have_the_step_shape_and_range(digits_dir):
  it = data.make_iterator(_cfg("digits", digits_dir), global_batch_size=16, n_critic=3,
                          seed=0)
  item = next(it)
  assert item.shape == (3, 16, 8, 8, 1) and item.dtype == np.float32
  assert item.min() >= -1.0 and item.max() <= 1.0 and item.min() == -1.0
  assert it.position == 1


def _rows(items):
  return [x.tobytes() for item in items for x in item.reshape(-1, *item.shape[-3:])]


def test_one_epoch_shows_every_digit_exactly_once(digits_dir):
  train = digits.Digits(data_dir=str(digits_dir / "tfds")).info.splits["train"].num_examples
  it = data.make_iterator(_cfg("digits", digits_dir), global_batch_size=train, n_critic=1,
                          seed=1)
  epoch = _rows([next(it)])
  assert len(epoch) == train
  reference = tfds.as_numpy(digits.Digits(data_dir=str(digits_dir / "tfds")).as_dataset(
      split="train", batch_size=-1))["image"]
  expected = sorted((x.astype(np.float32) / np.float32(127.5) - 1).tobytes()
                    for x in reference)
  assert sorted(epoch) == expected
  second = _rows([next(it)])
  assert sorted(second) == expected and second != epoch  # reshuffled each epoch


def test_resumed_iterator_continues_exactly_where_it_stopped(digits_dir):
  cfg = _cfg("digits", digits_dir)
  straight = _take(data.make_iterator(cfg, global_batch_size=64, n_critic=5, seed=2), 12)
  resumed = data.make_iterator(cfg, global_batch_size=64, n_critic=5, seed=2, position=7)
  assert resumed.position == 7
  for a, b in zip(straight[7:], _take(resumed, 5)):  # crosses an epoch boundary (1497)
    np.testing.assert_array_equal(a, b)


def test_process_shards_are_disjoint_and_together_complete(digits_dir):
  cfg = _cfg("digits", digits_dir)
  builder = digits.Digits(data_dir=str(digits_dir / "tfds"))
  train = builder.info.splits["train"].num_examples
  shards = []
  for i in range(2):
    split = tfds.split_for_jax_process("train", process_index=i, process_count=2)
    n = int(builder.as_dataset(split=split).cardinality())
    it = data.make_iterator(cfg, global_batch_size=2 * n, n_critic=1, seed=0,
                            process_index=i, process_count=2)
    shards.append(_rows([next(it)]))
  first, second = (set(s) for s in shards)
  assert len(shards[0]) + len(shards[1]) == train
  # Digits has duplicate images; compare multisets, not just sets.
  assert sorted(shards[0] + shards[1]) == sorted(_rows([next(data.make_iterator(
      cfg, global_batch_size=train, n_critic=1, seed=0))]))
  assert first and second


def test_per_device_items_split_each_critic_batch_by_device(digits_dir):
  cfg = _cfg("digits", digits_dir)
  whole = next(data.make_iterator(cfg, global_batch_size=16, n_critic=2, seed=0))
  split = next(data.make_iterator(cfg, global_batch_size=16, n_critic=2, seed=0,
                                  num_local_devices=4))
  assert split.shape == (4, 2, 4, 8, 8, 1)
  for d in range(4):
    np.testing.assert_array_equal(split[d], whole[:, 4 * d:4 * (d + 1)])


def test_indivisible_global_batch_says_so_with_the_numbers(digits_dir):
  with pytest.raises(ValueError, match=r"global batch size 10 is not divisible by "
                                       r"process_count \* num_local_devices = 1 \* 4 = 4"):
    data.make_iterator(_cfg("digits", digits_dir), global_batch_size=10, n_critic=1,
                       seed=0, num_local_devices=4)


# --- TFDS datasets under mock data ------------------------------------------------------


@pytest.mark.parametrize("name,size,channels", [
    ("mnist", 28, 1), ("fashion_mnist", 28, 1), ("cifar10", 32, 3),
    ("cifar10", 16, 3),  # resized
    ("tf_flowers", 16, 3), ("celeb_a", 16, 3),  # variable size / centre crop, streamed
])
def test_tfds_datasets_yield_scaled_images_with_their_channels(tmp_path, name, size,
                                                               channels):
  cfg = _cfg(name, tmp_path, image_size=size)
  assert data.data_shape(cfg) == (size, size, channels)
  with tfds.testing.mock_data(num_examples=12):
    it = data.make_iterator(cfg, global_batch_size=4, n_critic=2, seed=0)
    items = _take(it, 3)
  for item in items:
    assert item.shape == (2, 4, size, size, channels) and item.dtype == np.float32
    assert item.min() >= -1.0 and item.max() <= 1.0
  assert np.std(np.stack(items)) > 0.01  # real pixels, not a constant


def test_missing_tfds_dataset_names_it_the_data_dir_and_how_to_prepare_it(tmp_path):
  cfg = _cfg("cifar10", tmp_path, image_size=32)
  with pytest.raises(data.DatasetNotPreparedError) as info:
    data.make_iterator(cfg, global_batch_size=4, n_critic=1, seed=0)
  message = str(info.value)
  assert "'cifar10'" in message and str(tmp_path / "tfds") in message
  assert "tfds build cifar10" in message and "\n" not in message


# --- image folders -----------------------------------------------------------------------


def _write_images(directory, n, *, size=(20, 12), fmt="PNG", seed=0):
  os.makedirs(directory, exist_ok=True)
  rng = np.random.default_rng(seed)
  for i in range(n):
    pixels = rng.integers(0, 256, size=(size[1], size[0], 3), dtype=np.uint8)
    ext = "png" if fmt == "PNG" else "jpg"
    Image.fromarray(pixels).save(os.path.join(directory, f"img{i}.{ext}"), fmt)


def test_folder_with_class_subfolders_trains_through_the_same_pipeline(tmp_path):
  root = tmp_path / "photos"
  _write_images(root / "daisy", 5, fmt="JPEG")
  _write_images(root / "roses", 4, fmt="PNG", size=(16, 16), seed=1)
  cfg = _cfg("folder", tmp_path, image_size=8, path=str(root))
  assert data.data_shape(cfg) == (8, 8, 3)
  item = next(data.make_iterator(cfg, global_batch_size=3, n_critic=2, seed=0))
  assert item.shape == (2, 3, 8, 8, 3) and item.min() >= -1 and item.max() <= 1


def test_folder_skips_and_counts_unreadable_files_and_ignores_others(tmp_path, caplog):
  root = tmp_path / "photos"
  _write_images(root, 3)
  (root / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
  (root / "notes.txt").write_text("not an image")
  from jaxgan.data import folder
  scan = folder.scan_folder(str(root))
  assert len(scan.images) == 3 and len(scan.bad_images) == 1 and len(scan.ignored) == 1
  assert scan.bad_images[0][0].endswith("broken.jpg")
  images = folder.list_images(str(root))
  assert all(not p.endswith(("broken.jpg", "notes.txt")) for p in images)


def test_truncated_jpeg_is_rejected(tmp_path):
  root = tmp_path / "photos"
  _write_images(root, 1, fmt="JPEG")
  path = root / "img0.jpg"
  path.write_bytes(path.read_bytes()[:-40])  # a truncated copy
  from jaxgan.data import folder
  assert "truncated" in folder.image_problem(str(path))


@pytest.mark.parametrize("setup,message", [
    ("empty", "holds no usable JPEG/PNG image"),
    ("only_bad", "holds no usable JPEG/PNG image (1 unreadable, 1 other files)"),
    ("missing", "is not a directory"),
])
def test_unusable_folders_are_one_clear_error(tmp_path, setup, message):
  root = tmp_path / "photos"
  if setup != "missing":
    root.mkdir()
  if setup == "only_bad":
    (root / "a.png").write_bytes(b"garbage")
    (root / "b.txt").write_text("x")
  cfg = _cfg("folder", tmp_path, path=str(root))
  with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
    data.make_iterator(cfg, global_batch_size=2, n_critic=1, seed=0)


# --- toy sets -------------------------------------------------------------------------


@pytest.mark.parametrize("name,num_modes,std", [("8gaussians", 8, 0.02 / 1.414),
                                                ("25gaussians", 25, 0.05 / 2.828)])
def test_toy_mixtures_match_the_authors_generators(name, num_modes, std):
  modes = toy.modes(name)
  assert modes.shape == (num_modes, 2)
  assert toy.mode_std(name) == pytest.approx(std)
  x = toy.sample(name, np.random.default_rng(0), 20000)
  nearest = np.argmin(((x[:, None] - modes[None]) ** 2).sum(-1), axis=1)
  residual = x - modes[nearest]
  np.testing.assert_allclose(residual.std(axis=0), std, rtol=0.05)
  counts = np.bincount(nearest, minlength=num_modes)
  assert counts.min() > 0.5 * 20000 / num_modes  # every mode drawn, roughly uniformly


def test_toy_geometry():
  ring = toy.modes("8gaussians")
  np.testing.assert_allclose(np.linalg.norm(ring, axis=1), 2 / 1.414, rtol=1e-6)
  grid = toy.modes("25gaussians")
  np.testing.assert_allclose(sorted(set(np.round(grid[:, 0] * 2.828, 6))), [-4, -2, 0, 2, 4])
  roll = toy.sample("swissroll", np.random.default_rng(0), 5000)
  assert roll.shape == (5000, 2) and np.abs(roll).max() < 2.5


def test_unknown_dataset_lists_the_allowed_names(tmp_path):
  with pytest.raises(ValueError, match="'imagenet'.*digits.*swissroll"):
    data.data_shape(_cfg("imagenet", tmp_path))
