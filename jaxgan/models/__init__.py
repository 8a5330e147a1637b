"""Generator / critic factory from a validated `model` config block.

Architectures (`model.arch`):
  mlp     ReLU MLPs (the WGAN-GP authors' gan_toy.py for 2-D data; any shape).
  dcgan   DCGAN-style conv nets for square images (jaxgan/models/dcgan.py).
  resnet  the WGAN-GP authors' CIFAR-10 ResNet (gan_cifar_resnet.py), 32x32x3.
  sngan   SNGAN's CIFAR-10 ResNet (Miyato et al. 2018): wider generator, global
          sum pooling, no output bias, spectral norm on every critic layer.

Class conditioning (`model.conditional`, jaxgan/models/conditional.py): none,
acgan (an AC-GAN head on the critic) or projection (a projection critic); the
generator of a conditional run is class-conditional either way.
"""

from __future__ import annotations

import jax.numpy as jnp

from jaxgan.models import conditional as conditional_lib
from jaxgan.models import dcgan
from jaxgan.models import mlp
from jaxgan.models import resnet

ARCHS = ("mlp", "dcgan", "resnet", "sngan")
RESNET_ARCHS = ("resnet", "sngan")  # 32x32x3 only
CONDITIONALS = conditional_lib.CONDITIONALS
DTYPES = {"float32": None, "bfloat16": jnp.bfloat16}


def make_models(model_cfg, data_shape, *, conditional: str = "none", num_classes: int = 0):
  """(generator, critic) flax modules for data of `data_shape` (config already validated).

  `conditional` (model.conditional) and `num_classes` (from the data) make both
  networks class-conditional; the defaults build the unconditional ones.
  """
  conditional_lib.check_conditional(conditional, num_classes)
  data_shape = tuple(data_shape)
  dtype = DTYPES[model_cfg.dtype]
  classes = num_classes if conditional != "none" else 0
  heads = dict(conditional=conditional, num_classes=classes)
  if model_cfg.arch == "mlp":
    is_image = len(data_shape) == 3
    return (mlp.MLPGenerator(hidden=tuple(model_cfg.hidden), out_shape=data_shape,
                             tanh_output=is_image, dtype=dtype, num_classes=classes),
            mlp.MLPCritic(hidden=tuple(model_cfg.hidden), dtype=dtype, **heads))
  if model_cfg.arch in RESNET_ARCHS:
    sngan = model_cfg.arch == "sngan"
    return (resnet.ResNetGenerator(width=model_cfg.generator_width or model_cfg.width,
                                   bn_momentum=model_cfg.bn_momentum,
                                   bn_epsilon=model_cfg.bn_epsilon, dtype=dtype,
                                   num_classes=classes,
                                   bn_running_var=model_cfg.bn_running_var),
            resnet.ResNetCritic(width=model_cfg.width, norm=model_cfg.critic_norm,
                                spectral_norm=model_cfg.spectral_norm,
                                pooling="sum" if sngan else "mean",
                                output_bias=not sngan, dtype=dtype, **heads))
  size, _, channels = data_shape
  return (dcgan.DCGANGenerator(image_size=size, channels=channels,
                               width=model_cfg.generator_width or model_cfg.width,
                               upsample=model_cfg.upsample,
                               batch_norm=model_cfg.generator_batch_norm,
                               bn_momentum=model_cfg.bn_momentum,
                               bn_epsilon=model_cfg.bn_epsilon, dtype=dtype,
                               num_classes=classes,
                               bn_running_var=model_cfg.bn_running_var),
          dcgan.DCGANCritic(image_size=size, width=model_cfg.width,
                            norm=model_cfg.critic_norm,
                            spectral_norm=model_cfg.spectral_norm, dtype=dtype, **heads))
