"""Evaluation: evaluators chosen by the config, metrics as pure functions, one cache.

`Evaluator` (evaluator.py) generates a run's evaluation samples once and runs the
evaluators its config selects: toy.py (2-D toy sets), classifier.py (the small
classifier of a labelled image dataset), inception.py (the FID Inception-v3); the
metrics themselves are pure functions in metrics.py, the pictures in plots.py and the
on-disk cache in cache.py. `python -m jaxgan.fid` is the Inception command line.
"""

from jaxgan.eval.evaluator import CLASSIFIER_SEED
from jaxgan.eval.evaluator import Evaluator
from jaxgan.eval.evaluator import classifier_dir
from jaxgan.eval.evaluator import eval_latents
from jaxgan.eval.evaluator import flat_scalars
from jaxgan.eval.evaluator import population_result
from jaxgan.eval.evaluator import population_scalars
from jaxgan.eval.evaluator import population_summary_line
from jaxgan.eval.evaluator import summary_line
from jaxgan.eval.evaluator import write_result

__all__ = ["CLASSIFIER_SEED", "Evaluator", "classifier_dir", "eval_latents",
           "flat_scalars", "population_result",
           "population_scalars", "population_summary_line", "summary_line",
           "write_result"]
