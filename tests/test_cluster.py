"""Joining a job from a launcher's environment, stopping together, losing a process.

The launcher environments are simulated on loopback for two real processes
(gloo CPU collectives, one device each): SLURM's srun variables and Open MPI's
mpirun variables, with no jaxgan flag naming the job. One job is started four
times in one workdir (the runs are shared to keep the suite short): by srun,
SIGTERM to one task; then by mpirun, SIGTERM to both, SIGKILL of one, to the end.
Its samples must match a plain one-process run's to 1e-4 relative, and its final
state, bit for bit, an uninterrupted one-process run on two devices (which
computes exactly what two one-device processes compute). detect()'s reading of
environments is checked in-process.
"""

import json
import os
import signal
import socket
import subprocess
import sys
import time

import numpy as np
import pytest

from jaxgan import checkpoint as checkpoint_lib
from jaxgan import cluster
from jaxgan import errors

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TOY = ["--config=configs/wgan_gp.py:dataset=8gaussians", "--config.model.hidden=(32,32)",
       "--config.train.batch_size=64", "--config.log.eval_every=0"]
LONG = 60  # steps of the interrupted job: its signals come within its first ~20 steps
HEARTBEAT = 5  # seconds: short for the test, long enough for a loaded CI machine
JOB_FLAGS = [f"--heartbeat_timeout={HEARTBEAT}", "--join_timeout=60"]
SLURM_BASE, OMPI_BASE = 61440, 61440  # 65535 - 2**12 + 1: jax's ephemeral port range


def plain_env(devices=1, **extra):
  """The test machine's environment (conftest.py removed any launcher's variables)."""
  return dict(os.environ, XLA_FLAGS=f"--xla_force_host_platform_device_count={devices}",
              JAX_PLATFORMS="cpu", TF_CPP_MIN_LOG_LEVEL="2", **extra)


def _free_port_in_jax_range():
  """A port in [61440, 65535] nothing listens on: jax derives the coordinator's port
  from the job id into that range, so the simulated job id is chosen to land on it."""
  for port in np.random.default_rng().permutation(np.arange(SLURM_BASE, 65536)):
    with socket.socket() as s:
      try:
        s.bind(("127.0.0.1", int(port)))
      except OSError:
        continue
      return int(port)
  raise RuntimeError("no free port in jax's range")


def slurm_env(task, port, tasks=2):
  job_id = 7 * 4096 + (port - SLURM_BASE)  # jax: port = 61440 + SLURM_JOB_ID % 4096
  return plain_env(SLURM_JOB_ID=str(job_id), SLURM_STEP_NODELIST="localhost",
                   SLURM_NTASKS=str(tasks), SLURM_PROCID=str(task), SLURM_LOCALID=str(task),
                   SLURM_STEP_NUM_NODES="1")


def ompi_env(rank, port, size=2):
  job_id = (port - OMPI_BASE) * 4096  # jax: port = 61440 + (jobid // 4096) % 4096
  return plain_env(OMPI_MCA_orte_hnp_uri=f"{job_id}.0;tcp://127.0.0.1:39999",
                   OMPI_COMM_WORLD_SIZE=str(size), OMPI_COMM_WORLD_RANK=str(rank),
                   OMPI_COMM_WORLD_LOCAL_RANK=str(rank))


class Job:
  """Two launch.py processes started as a launcher would, output in files."""

  def __init__(self, tmp, envs, args):
    self.logs = [(tmp / f"out{i}_{time.monotonic_ns()}", tmp / f"err{i}_{time.monotonic_ns()}")
                 for i in range(len(envs))]
    self.procs = [subprocess.Popen([sys.executable, "launch.py", *args], cwd=ROOT, env=env,
                                   stdout=open(out, "w"), stderr=open(err, "w"))
                  for env, (out, err) in zip(envs, self.logs)]

  def out(self, i):
    return self.logs[i][0].read_text()

  def err(self, i):
    return self.logs[i][1].read_text()

  def wait(self, timeout=180):
    deadline = time.monotonic() + timeout
    try:
      for p in self.procs:
        p.wait(timeout=max(1, deadline - time.monotonic()))
    finally:
      self.kill()
    return [p.returncode for p in self.procs]

  def kill(self):
    for p in self.procs:
      if p.poll() is None:
        p.kill()
        p.wait()

  def wait_for_step(self, workdir, step, timeout=120):
    """Until process 0 has logged `step` (metrics.jsonl, one line per step: log.every=1)."""
    path = os.path.join(workdir, "metrics.jsonl")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
      if os.path.exists(path):
        with open(path) as f:
          lines = [l for l in f if l.endswith("\n")]
        if lines and json.loads(lines[-1])["step"] >= step:
          return
      if any(p.poll() is not None for p in self.procs):
        raise AssertionError(f"a process ended early: {self.err(0)[-2000:]}{self.err(1)[-2000:]}")
      time.sleep(0.05)
    self.kill()
    raise AssertionError(f"step {step} not reached in {timeout}s")


def _stopped_at(out):
  lines = [l for l in out.splitlines() if "stopped by SIGTERM" in l]
  assert len(lines) == 1, out[-2000:]
  return int(lines[0].split(" at step ")[1].split(":")[0])


def _samples(workdir, step):
  return np.load(os.path.join(workdir, "samples", f"step_{step:06d}.npy"))


def _final_state(workdir):
  from jax import tree  # pylint: disable=g-import-not-at-top
  import orbax.checkpoint as ocp  # pylint: disable=g-import-not-at-top
  path = os.path.join(workdir, "checkpoints", str(LONG), "state")
  return tree.leaves(ocp.StandardCheckpointer().restore(path))


def _one_process(workdir, devices):
  result = subprocess.run([sys.executable, "launch.py", *TOY, f"--config.train.num_steps={LONG}",
                           "--config.log.checkpoint_every=1000", "--config.log.sample_every=3",
                           f"--workdir={workdir}"], cwd=ROOT, env=plain_env(devices),
                          capture_output=True, text=True, timeout=300)
  assert result.returncode == 0, result.stderr[-3000:]
  assert "process 0 of 1 (no cluster environment)" in result.stdout
  return workdir


@pytest.mark.slow
def test_srun_or_mpirun_variables_alone_form_a_job_that_stops_together_and_resumes_bitwise(
    tmp_path):
  """One job, started four times: by srun (SIGTERM to one task), then by mpirun
  (SIGTERM to every rank; SIGKILL of one rank; to the end)."""
  one = _one_process(str(tmp_path / "one"), 1)  # the plain machine's run
  workdir = str(tmp_path / "job")
  ckpts = os.path.join(workdir, "checkpoints")
  args = [*TOY, f"--config.train.num_steps={LONG}", "--config.log.checkpoint_every=1000",
          "--config.log.every=1", f"--workdir={workdir}", *JOB_FLAGS]

  # srun's variables and the README's command: one 2-process job, no jaxgan flag.
  # SIGTERM to task 1 only: both tasks stop after the same step, save it, exit 0.
  port = _free_port_in_jax_range()
  job = Job(tmp_path, [slurm_env(i, port) for i in range(2)],
            [*args, "--config.log.sample_every=3"])
  job.wait_for_step(workdir, 3)
  job.procs[1].send_signal(signal.SIGTERM)
  assert job.wait() == [0, 0], job.err(0)[-2000:] + job.err(1)[-2000:]
  for i in range(2):
    assert (f"[p{i}] process {i} of 2 (slurm job {7 * 4096 + port - SLURM_BASE}, "
            f"coordinator localhost:{port}); devices: 1 local of 2 (cpu)") in job.out(i)
  ours, theirs = _samples(workdir, 3), _samples(one, 3)
  # The README's promise: the same samples as one process up to float reassociation.
  assert np.max(np.abs(ours - theirs)) <= 1e-4 * np.max(np.abs(theirs))
  first = _stopped_at(job.out(0))
  assert _stopped_at(job.out(1)) == first < LONG
  assert "(sent to another process of the job)" in job.out(0)
  assert checkpoint_lib.finished_steps(ckpts)[-1] == first

  # mpirun's variables from here on. SIGTERM to every rank, as a scheduler's
  # preemption does: the same, later.
  port = _free_port_in_jax_range()
  envs = [ompi_env(i, port) for i in range(2)]
  args.append("--config.log.sample_every=1000")
  job = Job(tmp_path, envs, args)
  job.wait_for_step(workdir, first + 2)
  for p in job.procs:
    p.send_signal(signal.SIGTERM)
  assert job.wait() == [0, 0], job.err(0)[-2000:] + job.err(1)[-2000:]
  assert f"process 1 of 2 (open mpi job, coordinator 127.0.0.1:{port})" in job.out(1)
  second = _stopped_at(job.out(0))
  assert _stopped_at(job.out(1)) == second and first < second < LONG
  assert checkpoint_lib.finished_steps(ckpts)[-1] == second

  # SIGKILL of rank 1: rank 0 ends non-zero within a bounded time, naming it and
  # the checkpoint a rerun resumes from; no step directory is left half-written.
  job = Job(tmp_path, envs, args)
  job.wait_for_step(workdir, second + 2)
  job.procs[1].kill()
  killed = time.monotonic()
  job.procs[0].wait(timeout=60)
  took = time.monotonic() - killed
  assert job.procs[0].returncode == cluster.LOST_EXIT, job.err(0)[-3000:]
  lines = [l for l in job.err(0).splitlines() if l.startswith("error:")]
  assert len(lines) == 1 and "process 1 of 2 was lost" in lines[0], job.err(0)[-3000:]
  assert f"last good checkpoint: step {second} in {ckpts}" in lines[0]
  assert took < HEARTBEAT + 10, took  # the heartbeat timeout and a few beats
  assert checkpoint_lib.finished_steps(ckpts)[-1] == second

  # The same job again: it resumes from that step and ends as if never interrupted:
  # bit for bit what one process on two devices computes (the same arithmetic).
  job = Job(tmp_path, envs, args)
  assert job.wait() == [0, 0], job.err(0)[-2000:] + job.err(1)[-2000:]
  assert f"steps {second + 1}-{LONG} on 2 device(s)" in job.out(0)  # resumed, not restarted
  uninterrupted = _one_process(str(tmp_path / "uninterrupted"), 2)
  for ours, theirs in zip(_final_state(workdir), _final_state(uninterrupted), strict=True):
    np.testing.assert_array_equal(np.asarray(ours), np.asarray(theirs))


@pytest.mark.slow
def test_half_set_environment_and_unreachable_coordinator_are_one_line_exit_2(tmp_path):
  port = _free_port_in_jax_range()
  half = slurm_env(1, port)
  del half["SLURM_PROCID"]  # python started by sbatch on a 2-task allocation, no srun
  started = time.monotonic()
  runs = [subprocess.Popen([sys.executable, "launch.py", *TOY, f"--workdir={tmp_path / w}",
                            "--join_timeout=3"], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True)
          for w, env in (("half", half), ("alone", slurm_env(1, port)))]
  outs = [p.communicate(timeout=120) for p in runs]
  assert time.monotonic() - started < 90
  for (_, err), p in zip(outs, runs):
    assert p.returncode == 2, err[-3000:]
    assert len(err.strip().splitlines()) == 1, err[-3000:]
  assert outs[0][1].startswith("error: SLURM job ") and "SLURM_PROCID is not set" in outs[0][1]
  assert (f"error: could not join the slurm job as process 1 of 2 within --join_timeout=3s: "
          f"nothing answers at localhost:{port}") in outs[1][1]
  assert not (tmp_path / "half").exists() and not (tmp_path / "alone" / "checkpoints").exists()


# detect(): what each environment means, checked without starting anything.

def test_plain_environment_is_one_process():
  assert cluster.detect({}) == cluster.Job("none", 1, 0)
  # An sbatch script or salloc shell of one task is a plain machine too.
  assert not cluster.detect({"SLURM_JOB_ID": "5", "SLURM_NTASKS": "1"}).joins


def test_srun_task_reads_jax_coordinator_port_and_first_node():
  env = {"SLURM_JOB_ID": "4242", "SLURM_STEP_NODELIST": "node[007-009],gpu1",
         "SLURM_NTASKS": "6", "SLURM_PROCID": "4", "SLURM_LOCALID": "1",
         "SLURM_STEP_NUM_NODES": "3"}
  job = cluster.detect(env)
  assert (job.environment, job.num_processes, job.process_id) == ("slurm", 6, 4)
  assert job.coordinator == f"node007:{61440 + 4242 % 4096}"
  assert job.local_device_ids == (1,)  # two tasks per node: the task's own GPU
  assert cluster.detect(dict(env, JAX_COORDINATOR_PORT="1234")).coordinator == "node007:1234"
  one_per_node = dict(env, SLURM_NTASKS="3", SLURM_PROCID="2", SLURM_LOCALID="0")
  assert cluster.detect(one_per_node).local_device_ids is None  # every GPU of the node


def test_flags_override_the_environment_one_by_one():
  env = {"OMPI_COMM_WORLD_SIZE": "4", "OMPI_COMM_WORLD_RANK": "3",
         "OMPI_COMM_WORLD_LOCAL_RANK": "1", "OMPI_MCA_orte_hnp_uri": "8192.0;tcp://10.0.0.5:1"}
  job = cluster.detect(env)
  assert (job.coordinator, job.num_processes, job.process_id) == ("10.0.0.5:61442", 4, 3)
  job = cluster.detect(env, address="head:9999")
  assert (job.environment, job.coordinator, job.process_id) == ("open mpi", "head:9999", 3)
  assert cluster.detect(env, cluster="none") == cluster.Job("none", 1, 0)
  del env["OMPI_MCA_orte_hnp_uri"]  # Open MPI 5: the flag gives what mpirun no longer does
  assert cluster.detect(env, address="head:9999").coordinator == "head:9999"


@pytest.mark.parametrize("env, message", [
    ({"SLURM_JOB_ID": "9", "SLURM_NTASKS": "4", "SLURM_STEP_NODELIST": "a"},
     "SLURM job 9 has SLURM_NTASKS=4 but SLURM_PROCID, SLURM_LOCALID are not set: start one "
     "process per task with srun"),
    ({"SLURM_JOB_ID": "9", "SLURM_NTASKS": "2", "SLURM_STEP_NODELIST": "a",
      "SLURM_PROCID": "2", "SLURM_LOCALID": "0"},
     "SLURM: SLURM_PROCID=2 is not in [0, SLURM_NTASKS=2)"),
    ({"SLURM_JOB_ID": "x", "SLURM_NTASKS": "2", "SLURM_STEP_NODELIST": "a",
      "SLURM_PROCID": "0", "SLURM_LOCALID": "0"}, "SLURM: SLURM_JOB_ID='x' is not an integer"),
    ({"OMPI_COMM_WORLD_SIZE": "2", "OMPI_COMM_WORLD_LOCAL_RANK": "0"},
     "Open MPI: OMPI_COMM_WORLD_SIZE is set but OMPI_COMM_WORLD_RANK not"),
    ({"OMPI_COMM_WORLD_SIZE": "2", "OMPI_COMM_WORLD_RANK": "0",
      "OMPI_COMM_WORLD_LOCAL_RANK": "0"}, "Open MPI: OMPI_MCA_orte_hnp_uri is not set"),
])
def test_half_set_or_inconsistent_environment_is_a_config_error(env, message):
  with pytest.raises(errors.ConfigError) as e:
    cluster.detect(env)
  assert str(e.value).startswith(message)


def test_incomplete_flags_are_refused():
  with pytest.raises(errors.ConfigError, match="need --coordinator_address"):
    cluster.detect({}, num_processes=2)
  with pytest.raises(errors.ConfigError, match=r"--process_id must be in \[0, 2\), got 2"):
    cluster.detect({}, address="h:1", num_processes=2, process_id=2)
  with pytest.raises(errors.ConfigError, match="--heartbeat_timeout must be > 0 seconds, got 0"):
    cluster.join(cluster.Job("none", 1, 0), join_timeout=5, heartbeat_timeout=0)


def test_start_line_of_a_one_process_run_names_what_was_found():
  assert cluster.describe(cluster.detect({})) == "process 0 of 1 (no cluster environment)"
  assert (cluster.describe(cluster.detect({"SLURM_JOB_ID": "5", "SLURM_NTASKS": "1",
                                           "SLURM_STEP_NODELIST": "a", "SLURM_PROCID": "0",
                                           "SLURM_LOCALID": "0"}))
          == "process 0 of 1 (slurm job 5 of one task)")
