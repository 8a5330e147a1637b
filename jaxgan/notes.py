"""The notes a training prints after its start line: what a default chose for the
user that they would otherwise only find by reading the recipe.

`start_notes(config)` returns whole lines; runs.Setup.log_start logs them.
"""

from __future__ import annotations

from jaxgan import base_config
from jaxgan.data import registry


def _linear_horizon(config) -> int | None:
  """The decay horizon if either network's learning rate falls linearly to 0."""
  linear = any(config.optimizer[net].schedule == "linear" for net in ("critic", "generator"))
  return config.optimizer.decay_steps if linear else None


def start_notes(config) -> list[str]:
  """Lines for the start of a training run (possibly none)."""
  notes = []
  if (config.dataset.name == registry.FOLDER and config.model.arch == "dcgan"
      and config.dataset.image_size == 32 and config.model.width == 32):
    notes.append(
        "image folder: resized to 32x32 for a width-32 DCGAN, the CPU-sized default; "
        f"for the WGAN-GP DCGAN at 64x64 (an accelerator's size) add "
        f"{base_config.FOLDER_ACCELERATOR}")
  horizon = _linear_horizon(config)
  num_steps = config.train.num_steps
  budget = base_config.recipe_budget(config)
  if horizon is not None and horizon == num_steps and num_steps < budget:
    notes.append(
        f"shortened run: the learning rate decays linearly to 0 over these {num_steps:,} "
        f"steps (the recipe's budget is {budget:,}); to try the recipe's first steps at "
        f"its own rates add --config.optimizer.decay_steps={budget}")
  return notes
