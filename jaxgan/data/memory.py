"""Items of a dataset held in memory: epoch-seeded permutations, numpy only.

The stream is endless epochs of the examples, epoch e permuted by
np.random.default_rng([seed, e]); item k is examples [k*E, (k+1)*E) of that stream
(E = n_critic * batch_size), so it depends on (seed, k) alone and resuming at any
item costs nothing.
"""

from __future__ import annotations

import itertools
from typing import Iterator

import numpy as np


def items(images: np.ndarray, labels: np.ndarray | None, *, seed: int, n_critic: int,
          batch_size: int, start: int) -> Iterator:
  """Items from item `start` on: images [n_critic, batch_size, ...], or with labels
  (images, labels int32 [n_critic, batch_size]) of the same examples."""
  num = len(images)
  per_item = n_critic * batch_size
  permutations: dict[int, np.ndarray] = {}

  def permutation(epoch: int) -> np.ndarray:
    if epoch not in permutations:
      if len(permutations) > 2:  # an item spans at most a few epochs
        permutations.pop(min(permutations))
      permutations[epoch] = np.random.default_rng([seed, epoch]).permutation(num)
    return permutations[epoch]

  for k in itertools.count(start):
    stream = np.arange(k * per_item, (k + 1) * per_item, dtype=np.int64)
    epochs, offsets = np.divmod(stream, num)
    chosen = np.empty(per_item, np.int64)
    for epoch in np.unique(epochs):
      mask = epochs == epoch
      chosen[mask] = permutation(int(epoch))[offsets[mask]]
    item = images[chosen].reshape(n_critic, batch_size, *images.shape[1:])
    if labels is None:
      yield item
    else:
      yield item, labels[chosen].reshape(n_critic, batch_size)
