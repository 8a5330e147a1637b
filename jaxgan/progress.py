"""Progress lines: where the run is, how fast it trains, and when it will end.

A line comes every `log.every` steps and, whatever log.every is, at least every
`interval` seconds, so a slow model never leaves the terminal silent. The rate
counts training time only (evaluations, sample grids and checkpoints are paused
out) over the stretch since the previous line; the ETA adds the evaluations
still to come at the mean duration of those measured so far.
"""

from __future__ import annotations

import contextlib
import math
import time


def format_duration(seconds: float) -> str:
  if not math.isfinite(seconds):
    return "?"
  seconds = int(max(seconds, 0))
  h, rem = divmod(seconds, 3600)
  m, s = divmod(rem, 60)
  return f"{h}h{m:02d}m{s:02d}s" if h else f"{m}m{s:02d}s"


def fields(config) -> tuple[tuple[str, str], ...]:
  """(metric key, label) shown on a progress line for this run's loss and penalty."""
  out = [("critic/loss", "critic")]
  if config.penalty.name != "none":
    out += [("critic/penalty", "penalty"), ("critic/grad_norm_mean", "|grad D|")]
  if config.loss.name == "wasserstein":
    out.append(("critic/wasserstein_estimate", "W-est"))
  else:
    out += [("critic/score_real", "D(real)"), ("critic/score_fake", "D(fake)")]
  out.append(("generator/loss", "generator"))
  if config.model.conditional == "acgan":  # the critic's class accuracy (gan_cifar_resnet.py)
    out += [("critic/acgan_accuracy_real", "acc real"),
            ("critic/acgan_accuracy_fake", "acc fake")]
  if config.augment.name == "ada":  # ADA's probability and its heuristic
    out += [("augment/p", "aug p"), ("augment/r_t", "r_t")]
  if "linear" in (config.optimizer.critic.schedule, config.optimizer.generator.schedule):
    out.append(("generator/learning_rate", "lr G"))
  return tuple(out)


class Progress:
  """Times training (not evaluations) from step `start` to `num_steps` and formats
  progress lines of `fields` ((metric key, label) pairs), at least every `interval` s."""

  def __init__(self, start: int, num_steps: int, *, evaluations_left: int,
               fields, interval: float = 30.0, clock=time.monotonic):
    self._clock = clock
    self._fields = fields
    self.num_steps = num_steps
    self.interval = interval
    self.evaluations_left = evaluations_left
    self._eval_seconds: list[float] = []
    self._paused_total = 0.0
    now = clock()
    self._last = (start, now, 0.0)  # (step, wall time, paused total) at the last line
    self._steps_per_second = math.nan

  def _training_time(self, now: float) -> float:
    return now - self._last[1] - (self._paused_total - self._last[2])

  @contextlib.contextmanager
  def paused(self):
    """Time inside does not count as training."""
    start = self._clock()
    try:
      yield
    finally:
      self._paused_total += self._clock() - start

  def evaluation_done(self, seconds: float) -> None:
    """An evaluation took `seconds` (without one-time set-up such as a classifier)."""
    self._eval_seconds.append(seconds)
    self.evaluations_left = max(self.evaluations_left - 1, 0)

  def due(self, step: int, log_step: bool) -> bool:
    """Whether a line is due after `step`: a log step, or `interval` s of training
    since the last line (an evaluation prints its own lines)."""
    return log_step or step == self.num_steps or (
        self._training_time(self._clock()) >= self.interval)

  def eta_seconds(self, step: int) -> float:
    training = (self.num_steps - step) / self._steps_per_second
    if self.evaluations_left and self._eval_seconds:
      training += self.evaluations_left * sum(self._eval_seconds) / len(self._eval_seconds)
    return training

  def line(self, step: int, metrics: dict) -> str:
    """The progress line after `step`; resets the rate's stretch."""
    now = self._clock()
    seconds = self._training_time(now)
    if step > self._last[0] and seconds > 0:
      self._steps_per_second = (step - self._last[0]) / seconds
    self._last = (step, now, self._paused_total)
    eta = format_duration(self.eta_seconds(step))
    if self.evaluations_left and not self._eval_seconds:
      eta += f" + {self.evaluations_left} evaluation(s)"
    parts = [f"step {step}/{self.num_steps}", f"{self._steps_per_second:.2f} steps/s",
             f"ETA {eta}"]
    parts += [f"{label} {float(metrics[key]):.4g}" for key, label in self._fields
              if key in metrics]
    return " | ".join(parts)

  @property
  def steps_per_second(self) -> float:
    return self._steps_per_second


def step_time_note(progress: "Progress | None") -> str:
  """'a step takes about 36s here; ' for a stop request, from the measured rate
  ('' before the first progress line has measured it)."""
  rate = math.nan if progress is None else progress.steps_per_second
  if not math.isfinite(rate) or rate <= 0:
    return ""
  seconds = 1.0 / rate
  took = f"{seconds:.1f}s" if seconds >= 0.1 else "under 0.1s"
  return f"a step takes about {took} here; "
