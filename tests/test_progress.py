"""Progress lines: a line at least every 30 s of training whatever log.every is, the
rate over training time only, the ETA including the evaluations still to come."""

import math

from configs import lsgan, wgan_gp
from jaxgan import progress


class FakeClock:

  def __init__(self):
    self.now = 0.0

  def __call__(self):
    return self.now


METRICS = {"critic/loss": -1.5, "critic/penalty": 0.01, "critic/grad_norm_mean": 1.02,
           "critic/wasserstein_estimate": 1.6, "generator/loss": 0.3,
           "critic/score_real": 2.0, "critic/score_fake": -1.0,
           "generator/learning_rate": 1e-4}


def _progress(clock, evaluations_left=0, start=0, num_steps=1000):
  return progress.Progress(start, num_steps, evaluations_left=evaluations_left,
                           fields=progress.fields(wgan_gp.get_config()), clock=clock)


def test_a_line_comes_every_30_s_of_training_even_between_log_steps():
  clock = FakeClock()
  p = _progress(clock)
  clock.now = 29.0
  assert not p.due(7, log_step=False)
  clock.now = 30.5
  assert p.due(7, log_step=False)
  p.line(7, METRICS)
  clock.now = 31.0
  assert not p.due(8, log_step=False)
  assert p.due(8, log_step=True)  # a log step always prints
  assert p.due(1000, log_step=False)  # so does the last step


def test_the_rate_counts_training_time_only():
  clock = FakeClock()
  p = _progress(clock)
  clock.now = 10.0  # 100 steps in 10 s of training ...
  with p.paused():
    clock.now = 40.0  # ... and a 30 s evaluation
  clock.now = 40.0
  line = p.line(100, METRICS)
  assert "10.00 steps/s" in line
  # Time spent evaluating does not make a line due either.
  assert not p.due(101, log_step=False)


def test_the_eta_adds_the_evaluations_still_to_come_at_their_measured_duration():
  clock = FakeClock()
  p = _progress(clock, evaluations_left=3)
  clock.now = 10.0
  first = p.line(100, METRICS)  # 10 steps/s, 900 steps to go, no evaluation timed yet
  assert "ETA 1m30s + 3 evaluation(s)" in first
  p.evaluation_done(20.0)
  clock.now = 20.0
  second = p.line(200, METRICS)  # 800 steps at 10/s + 2 evaluations of 20 s
  assert "ETA 2m00s |" in second
  assert math.isclose(p.eta_seconds(200), 80 + 40)


def test_the_fields_follow_the_loss_and_the_penalty():
  clock = FakeClock()
  gp = _progress(clock).line(1, METRICS)
  assert "penalty 0.01" in gp and "W-est 1.6" in gp and "D(real)" not in gp
  ls = progress.Progress(0, 10, evaluations_left=0, clock=clock,
                         fields=progress.fields(lsgan.get_config())).line(1, METRICS)
  assert "penalty" not in ls and "W-est" not in ls
  assert "D(real) 2" in ls and "D(fake) -1" in ls and "generator 0.3" in ls


def test_a_stop_request_states_how_long_the_current_step_takes():
  clock = FakeClock()
  p = _progress(clock)
  assert progress.step_time_note(p) == ""  # nothing measured yet
  clock.now = 72.0
  p.line(2, METRICS)  # two steps in 72 s
  assert progress.step_time_note(p) == "a step takes about 36.0s here; "
  assert progress.step_time_note(None) == ""
