"""jaxgan.data's TFDS datasets, offline: the local digits builder, the in-memory path
(digits, mnist, fashion_mnist, cifar10), the streaming path for TFDS records
(tf_flowers, celeb_a; here also digits forced to stream), mnist / cifar10 /
tf_flowers / celeb_a under tfds.testing.mock_data, and the not-prepared error.
Every data_dir is under tmp_path; the network is never used."""

import os
import socket
import subprocess
import sys

import ml_collections
import numpy as np
import pytest
from sklearn import datasets as sk_datasets
import tensorflow as tf
import tensorflow_datasets as tfds

from jaxgan import data
from jaxgan.data import digits
from jaxgan.data import images
from jaxgan.data import pipeline

NUM_TRAIN = 1497  # digits train split


@pytest.fixture(autouse=True)
def no_network(monkeypatch):
  def refuse(*args, **kwargs):
    raise AssertionError(f"a data test tried to open a connection: {args}")
  monkeypatch.setattr(socket.socket, "connect", refuse)


@pytest.fixture(scope="module")
def digits_dir(tmp_path_factory):
  """A data_dir with digits prepared once for the module."""
  data_dir = str(tmp_path_factory.mktemp("tfds"))
  digits.Digits(data_dir=data_dir).download_and_prepare()
  return data_dir


@pytest.fixture
def streaming(monkeypatch):
  """Forces every TFDS dataset onto the tf.data streaming path."""
  monkeypatch.setattr(images, "IN_MEMORY_MAX_BYTES", 0)


def dataset_cfg(name, data_dir, image_size=8):
  return ml_collections.ConfigDict(dict(name=name, data_dir=str(data_dir), path="",
                                        image_size=image_size, shuffle_buffer=500))


def take(iterator, n):
  return np.stack([next(iterator) for _ in range(n)])


def digit_rows(items):
  """Every example of `items` as bytes of its uint8 pixels, in stream order."""
  levels = np.round((np.asarray(items).reshape(-1, 8, 8, 1) + 1) * 127.5)
  return [x.astype(np.uint8).tobytes() for x in levels]


def train_rows(digits_dir, split="train"):
  builder = digits.Digits(data_dir=digits_dir)
  return [e["image"].tobytes() for e in tfds.as_numpy(builder.as_dataset(split=split))]


# --- the digits builder ------------------------------------------------------------


def test_digits_pixels_scale_0_16_to_0_255():
  np.testing.assert_array_equal(digits.to_uint8(np.array([0, 1, 8, 15, 16])),
                                [0, 16, 128, 239, 255])


def test_digits_splits_are_disjoint_complete_every_sixth_to_test():
  train = digits.split_indices(1797, "train")
  test = digits.split_indices(1797, "test")
  assert len(test) == 300 and len(train) == NUM_TRAIN and np.all(test % 6 == 0)
  np.testing.assert_array_equal(np.sort(np.concatenate([train, test])), np.arange(1797))


def test_digits_builder_writes_tfrecords_of_sklearns_images_and_labels(digits_dir):
  assert any(f.startswith("digits-train.tfrecord")
             for f in os.listdir(os.path.join(digits_dir, "digits", "1.0.0")))
  builder = digits.Digits(data_dir=digits_dir)
  sk = sk_datasets.load_digits()
  key = lambda ims, ls: sorted(im.tobytes() + bytes([l]) for im, l in zip(ims, ls))
  for split in ("train", "test"):
    ex = tfds.as_numpy(builder.as_dataset(split=split, batch_size=-1))
    assert ex["image"].shape[1:] == (8, 8, 1) and ex["image"].dtype == np.uint8
    idx = digits.split_indices(1797, split)
    # Same multiset of (image, label) as sklearn's split; TFDS reorders examples.
    assert key(ex["image"], ex["label"]) == key(
        digits.to_uint8(sk.images[idx])[..., None], sk.target[idx])
    assert np.bincount(ex["label"], minlength=10).min() >= 0.8 * len(idx) / 10


# --- in memory ---------------------------------------------------------------------


def test_fixed_shape_datasets_that_fit_are_held_in_memory_by_size():
  assert images.fits_in_memory((8, 8, 1), NUM_TRAIN)  # digits
  assert images.fits_in_memory((28, 28, 1), 60_000)  # mnist, fashion_mnist: 47 MB
  assert images.fits_in_memory((32, 32, 3), 50_000)  # cifar10: 150 MB
  assert not images.fits_in_memory((218, 178, 3), 162_770)  # celeb_a: 19 GB
  assert not images.fits_in_memory((None, None, 3), 3_670)  # tf_flowers: sizes vary


def test_digits_items_are_the_step_shape_with_exact_pixel_levels(digits_dir):
  it = data.make_iterator(dataset_cfg("digits", digits_dir), global_batch_size=32,
                          n_critic=2, seed=0)
  item = next(it)
  assert item.shape == (2, 32, 8, 8, 1) == it.item_shape and item.dtype == np.float32
  assert item.min() == -1.0 and item.max() == 1.0 and it.position == 1
  # 8x8 is the native size: pixels are uint8 levels v mapped to v / 127.5 - 1.
  levels = (item + 1) * 127.5
  np.testing.assert_allclose(levels, np.round(levels), atol=1e-4)


def test_every_epoch_is_each_train_digit_once_reshuffled(digits_dir):
  it = data.make_iterator(dataset_cfg("digits", digits_dir),
                          global_batch_size=NUM_TRAIN, n_critic=1, seed=1)
  first, second = digit_rows(next(it)), digit_rows(next(it))
  expected = sorted(train_rows(digits_dir))
  assert sorted(first) == expected and sorted(second) == expected
  assert first != second


def test_in_memory_resume_continues_exactly_across_epochs(digits_dir):
  cfg = dataset_cfg("digits", digits_dir)
  kwargs = dict(global_batch_size=64, n_critic=5, seed=7)  # 320 per item: 4.7 per epoch
  reference = take(data.make_iterator(cfg, **kwargs), 12)
  assert len({x.tobytes() for x in reference}) == 12
  for p in (1, 4, 9):  # item 4 straddles epochs 0 and 1
    resumed = data.make_iterator(cfg, position=p, **kwargs)
    assert resumed.position == p
    np.testing.assert_array_equal(take(resumed, 3), reference[p:p + 3])
    assert resumed.position == p + 3


def test_in_memory_resize_equals_the_per_image_transform():
  """Batched crop/resize of gathered images == to_model_input image by image."""
  rng = np.random.default_rng(0)
  raw = rng.integers(0, 256, (6, 12, 20, 3), dtype=np.uint8)  # non-square: centre crop
  item = next(images.in_memory_stream(raw, seed=4, n_critic=2, batch_size=3, start=0,
                                      image_size=8, num_local_devices=None))
  order = np.random.default_rng([4, 0]).permutation(6)
  expected = np.stack([images.to_model_input(tf.constant(raw[i]), 8, 3).numpy()
                       for i in order])
  assert item.shape == (2, 3, 8, 8, 3)
  np.testing.assert_allclose(item.reshape(6, 8, 8, 3), expected, atol=1e-6)
  assert np.std(expected) > 0.1


def _shard_rows(digits_dir, process_count):
  """One epoch of each process's shard, as pixel bytes."""
  cfg = dataset_cfg("digits", digits_dir)
  shards = []
  for p in range(process_count):
    size = len(range(NUM_TRAIN)[p::process_count])  # 749, 748: TFDS's even split
    it = data.make_iterator(cfg, global_batch_size=size * process_count, n_critic=1,
                            seed=0, process_index=p, process_count=process_count)
    shards.append(digit_rows(next(it)))
  return shards


@pytest.mark.parametrize("path", ["in_memory", "streaming"])
def test_process_shards_are_disjoint_and_together_one_epoch(digits_dir, path, request):
  if path == "streaming":
    request.getfixturevalue("streaming")
  shards = _shard_rows(digits_dir, 2)
  assert [len(s) for s in shards] == [749, 748]
  # Digits repeats some images, so compare multisets: the shards add up to the split.
  assert sorted(shards[0] + shards[1]) == sorted(train_rows(digits_dir))
  assert len(set(shards[0])) > 700 and len(set(shards[1])) > 700  # one epoch, no repeats


def test_in_memory_per_device_items_split_each_critic_batch(digits_dir):
  cfg = dataset_cfg("digits", digits_dir)
  kwargs = dict(global_batch_size=16, n_critic=2, seed=0)
  flat = next(data.make_iterator(cfg, **kwargs))
  per_device = next(data.make_iterator(cfg, num_local_devices=4, **kwargs))
  assert per_device.shape == (4, 2, 4, 8, 8, 1)
  for d in range(4):
    np.testing.assert_array_equal(per_device[d], flat[:, 4 * d:4 * (d + 1)])


# --- streaming TFDS records --------------------------------------------------------


def test_streamed_digits_resume_exactly_and_cover_each_epoch(digits_dir, streaming):
  cfg = dataset_cfg("digits", digits_dir)
  kwargs = dict(global_batch_size=100, n_critic=5, seed=3)  # 500 per item
  reference = take(data.make_iterator(cfg, **kwargs), 6)  # three epochs
  rows = digit_rows(reference)
  for epoch in range(2):
    assert sorted(rows[epoch * NUM_TRAIN:(epoch + 1) * NUM_TRAIN]) == sorted(
        train_rows(digits_dir))
  assert rows[:NUM_TRAIN] != rows[NUM_TRAIN:2 * NUM_TRAIN]
  for p in (2, 4):  # items 2 and 5 straddle epochs
    resumed = data.make_iterator(cfg, position=p, **kwargs)
    np.testing.assert_array_equal(take(resumed, 2), reference[p:p + 2])


def _dataset_ops(ds):
  graph = tf.compat.v1.GraphDef()
  graph.ParseFromString(tf.raw_ops.DatasetToGraphV2(
      input_dataset=ds._variant_tensor).numpy())  # pylint: disable=protected-access
  nodes = list(graph.node) + [n for f in graph.library.function for n in f.node_def]
  return {n.op for n in nodes if n.op.endswith(("Dataset", "DatasetV2", "DatasetV4"))}


def test_streamed_tfds_records_start_no_threads_when_reread_each_epoch(digits_dir):
  """The exit-stall fix: the per-epoch part of the stream has no parallel op.

  TFDS's default reader (parallel interleave, parallel parse, prefetch) inside the
  epoch flat_map made destroying a long-lived iterator block exit for ~48 s.
  """
  builder = images.tfds_builder("digits", digits_dir)
  records, num = images.tfds_records(builder, "digits", "train")
  ops = _dataset_ops(records)
  assert num == NUM_TRAIN and "TFRecordDataset" in ops
  assert not {op for op in ops if "Parallel" in op or "Prefetch" in op}, ops
  default = _dataset_ops(builder.as_dataset(split="train", shuffle_files=False))
  assert {op for op in default if "Parallel" in op}  # what the test guards against


# --- TFDS datasets under mock data -------------------------------------------------


@pytest.mark.parametrize("name,size,channels", [
    ("mnist", 28, 1), ("fashion_mnist", 28, 1), ("cifar10", 32, 3),
    ("cifar10", 16, 3),  # resized in memory
    ("tf_flowers", 16, 3), ("celeb_a", 16, 3),  # streamed; celeb_a centre-cropped
])
def test_tfds_datasets_yield_scaled_images_with_their_channels(tmp_path, name, size,
                                                               channels):
  cfg = dataset_cfg(name, tmp_path / "tfds", image_size=size)
  assert data.data_shape(cfg) == (size, size, channels)
  with tfds.testing.mock_data(num_examples=12):
    items = take(data.make_iterator(cfg, global_batch_size=4, n_critic=2, seed=0), 3)
  assert items.shape == (3, 2, 4, size, size, channels) and items.dtype == np.float32
  assert items.min() >= -1.0 and items.max() <= 1.0
  assert np.std(items) > 0.01  # real (random) pixels, not a constant
  assert not os.path.exists(tmp_path / "tfds")  # mock data writes nothing


def test_streamed_mock_dataset_resumes_exactly(tmp_path):
  cfg = dataset_cfg("tf_flowers", tmp_path, image_size=8)
  kwargs = dict(global_batch_size=4, n_critic=1, seed=3)  # 4 per item, 10 per epoch
  with tfds.testing.mock_data(num_examples=10):
    reference = take(data.make_iterator(cfg, **kwargs), 6)
    np.testing.assert_array_equal(take(data.make_iterator(cfg, position=2, **kwargs), 4),
                                  reference[2:])
  assert not np.array_equal(reference[2], reference[3])


@pytest.mark.parametrize("name", ["cifar10", "tf_flowers", "celeb_a"])
def test_missing_tfds_dataset_is_one_line_naming_it_the_dir_and_the_fix(tmp_path, name):
  cfg = dataset_cfg(name, tmp_path / "nowhere", image_size=32)
  with pytest.raises(data.DatasetNotPreparedError) as info:
    data.make_iterator(cfg, global_batch_size=4, n_critic=1, seed=0)
  message = str(info.value)
  assert isinstance(info.value, ValueError) and "\n" not in message
  assert repr(name) in message and str(tmp_path / "nowhere") in message
  assert f"tfds build {name}" in message and "downloads/manual" in message


def test_tf_and_numpy_device_layouts_agree():
  item = np.arange(3 * 8 * 2, dtype=np.float32).reshape(3, 8, 2)
  np.testing.assert_array_equal(
      pipeline.split_for_devices(item, 4),
      images.split_for_devices(tf.constant(item.reshape(24, 2)), 3, 4).numpy())


@pytest.mark.slow
def test_a_fresh_process_resumes_with_the_same_items(digits_dir, tmp_path):
  """A resume runs in a new process: shuffles must not depend on process state."""
  from PIL import Image
  for i in range(5):
    Image.fromarray(np.full((8, 8, 3), 40 * i, np.uint8)).save(tmp_path / f"{i}.png")
  cfgs = [dataset_cfg("digits", digits_dir), dataset_cfg("folder", "")]
  cfgs[1].path = str(tmp_path)
  code = ("import sys, ml_collections; from jaxgan import data\n"
          "for c in sys.argv[1:]:\n"
          "  it = data.make_iterator(ml_collections.ConfigDict(eval(c)),"
          " global_batch_size=4, n_critic=2, seed=5, position=3)\n"
          "  print(next(it).tobytes().hex())\n")
  out = subprocess.run([sys.executable, "-c", code] + [repr(c.to_dict()) for c in cfgs],
                       capture_output=True, text=True, check=True,
                       env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
  here = [take(data.make_iterator(c, global_batch_size=4, n_critic=2, seed=5), 4)[3]
          for c in cfgs]
  assert out.stdout.split() == [x.tobytes().hex() for x in here]
