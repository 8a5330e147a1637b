"""Evaluation: evaluators chosen by the config, metrics as pure functions, one cache.

evaluator.py runs the evaluators of toy.py, classifier.py and inception.py on one set
of samples; metrics.py holds the metrics, plots.py the pictures and cache.py the
on-disk cache. `python -m jaxgan.fid` is the Inception command line.
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
