"""Generator / critic factory from a validated `model` config block."""

from __future__ import annotations

from jaxgan.models import dcgan
from jaxgan.models import mlp

ARCHS = ("mlp", "dcgan")


def make_models(model_cfg, data_shape):
  """(generator, critic) flax modules for data of `data_shape` (config already validated)."""
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
                               bn_momentum=model_cfg.bn_momentum),
          dcgan.DCGANCritic(image_size=size, width=model_cfg.width,
                            norm=model_cfg.critic_norm))
