"""Generator / critic factory from the `model` config block."""

from __future__ import annotations

from jaxgan.models import dcgan
from jaxgan.models import mlp

ARCHS = ("mlp", "dcgan")


def check_model_config(model_cfg, data_shape) -> None:
  """Raises ValueError naming any bad value in `model_cfg` for data of `data_shape`."""
  if model_cfg.arch not in ARCHS:
    raise ValueError(f"unknown model.arch {model_cfg.arch!r}; allowed: {', '.join(ARCHS)}")
  if model_cfg.z_dim < 1:
    raise ValueError(f"model.z_dim must be >= 1, got {model_cfg.z_dim}")
  if model_cfg.arch == "dcgan":
    if len(data_shape) != 3:
      raise ValueError(
          f"model.arch 'dcgan' needs image data [H, W, C], got data of shape "
          f"{tuple(data_shape)}; use model.arch='mlp' for 2-D toy data")
    size = data_shape[0]
    if data_shape[0] != data_shape[1] or dcgan.num_blocks(size) is None:
      raise ValueError(
          f"model.arch 'dcgan' cannot build images of size {data_shape[0]}x{data_shape[1]}; "
          f"allowed square sizes: {', '.join(map(str, dcgan.supported_sizes()))}")
    if model_cfg.upsample not in dcgan.UPSAMPLE_METHODS:
      raise ValueError(f"unknown model.upsample {model_cfg.upsample!r}; allowed: "
                       f"{', '.join(dcgan.UPSAMPLE_METHODS)}")
    if model_cfg.critic_norm not in dcgan.CRITIC_NORMS:
      raise ValueError(f"unknown model.critic_norm {model_cfg.critic_norm!r}; allowed: "
                       f"{', '.join(dcgan.CRITIC_NORMS)}")
    if model_cfg.critic_conv not in dcgan.CRITIC_CONVS:
      raise ValueError(f"unknown model.critic_conv {model_cfg.critic_conv!r}; allowed: "
                       f"{', '.join(dcgan.CRITIC_CONVS)}")
    if model_cfg.conv_transpose_impl not in dcgan.CONV_TRANSPOSE_IMPLS:
      raise ValueError(f"unknown model.conv_transpose_impl {model_cfg.conv_transpose_impl!r}; "
                       f"allowed: {', '.join(dcgan.CONV_TRANSPOSE_IMPLS)}")
    if model_cfg.width < 1:
      raise ValueError(f"model.width must be >= 1, got {model_cfg.width}")
  else:
    if not model_cfg.hidden or min(model_cfg.hidden) < 1:
      raise ValueError(f"model.hidden must be a non-empty tuple of positive widths, "
                       f"got {model_cfg.hidden}")


def make_models(model_cfg, data_shape, *, bn_axis_name=None):
  """(generator, critic) flax modules for data of `data_shape`."""
  check_model_config(model_cfg, data_shape)
  data_shape = tuple(data_shape)
  if model_cfg.arch == "mlp":
    is_image = len(data_shape) == 3
    return (mlp.MLPGenerator(hidden=tuple(model_cfg.hidden), out_shape=data_shape,
                             tanh_output=is_image),
            mlp.MLPCritic(hidden=tuple(model_cfg.hidden)))
  size, _, channels = data_shape
  return (dcgan.DCGANGenerator(image_size=size, channels=channels, width=model_cfg.width,
                               upsample=model_cfg.upsample,
                               batch_norm=model_cfg.generator_batch_norm,
                               bn_momentum=model_cfg.bn_momentum,
                               bn_axis_name=bn_axis_name,
                               conv_transpose_impl=model_cfg.conv_transpose_impl),
          dcgan.DCGANCritic(image_size=size, width=model_cfg.width,
                            norm=model_cfg.critic_norm, conv=model_cfg.critic_conv))
