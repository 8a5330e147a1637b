"""Image preprocessing shared by every image path: crop, resize, channels, [-1, 1].

Every image, streamed or loaded into memory, becomes model input through
`to_model_input`: centre crop to a square (CelebA's usual treatment), channel
conversion if the config forces one, antialiased resize to image_size (so
downscaling averages rather than aliases), then x / 127.5 - 1 in float32.
"""

from __future__ import annotations

from jaxgan.data._tf import tf


def _convert_channels(image: tf.Tensor, channels: int) -> tf.Tensor:
  """float [..., c] -> [..., channels]: grey repeated, or colour to ITU-R 601 luma."""
  have = image.shape[-1]
  if have == channels:
    return image
  if have == 1 and channels == 3:
    return tf.image.grayscale_to_rgb(image)
  if have == 3 and channels == 1:
    return tf.image.rgb_to_grayscale(image)
  raise ValueError(f"cannot convert {have}-channel images to {channels} channels")


def to_model_input(image: tf.Tensor, image_size: int, channels: int) -> tf.Tensor:
  """uint8 [h, w, c] -> float32 [image_size, image_size, channels] in [-1, 1].

  An image already square at image_size with `channels` channels keeps its exact
  pixel values (v / 127.5 - 1).
  """
  shape = tf.shape(image)
  height, width = shape[0], shape[1]
  side = tf.minimum(height, width)
  image = tf.image.crop_to_bounding_box(image, (height - side) // 2,
                                        (width - side) // 2, side, side)
  image = _convert_channels(tf.cast(image, tf.float32), channels)
  image = tf.cond(
      tf.equal(side, image_size), lambda: image,
      lambda: tf.image.resize(image, [image_size, image_size], antialias=True))
  image = tf.ensure_shape(image, [image_size, image_size, channels])
  # Bilinear weights are non-negative, so this clip only guards float rounding.
  return tf.clip_by_value(image / 127.5 - 1.0, -1.0, 1.0)


def decode_file(path: tf.Tensor, channels: int) -> tf.Tensor:
  """The JPEG/PNG file at `path` as uint8 [h, w, channels], alpha dropped.

  channels=3 repeats a grey image; channels=1 is exact for grey images only (the
  decoder's own conversion would turn colour into grey).
  """
  return tf.io.decode_image(tf.io.read_file(path), channels=channels,
                            expand_animations=False)
