"""What Slurm's `srun` tells a task about its job step, as conf/runtime/default.yaml's defaults
for a multi-node run (`${slurm:nnodes,1}` ...): used only inside a job step (srun sets
SLURM_STEP_NUM_NODES), so a batch script that runs scripts/mm_run.sh once, without srun, stays
a one-node run. An explicit runtime.nnodes=... / node_rank=... still wins (a command-line
override replaces the interpolation)."""
from __future__ import annotations

import os
import re

# a port for rank 0's store that every node of a job derives alike (as Lightning does): the
# job id's last four digits above this base
PORT_BASE = 20000


def in_job_step() -> bool:
    return bool(os.environ.get("SLURM_STEP_NUM_NODES"))


def step_tasks() -> int:
    return int(os.environ.get("SLURM_STEP_NUM_TASKS") or os.environ.get("SLURM_NTASKS") or 1)


def first_host(nodelist: str) -> str:
    """The first host of a Slurm host list: `gpu[07-09,12],cpu1` -> `gpu07`."""
    head = re.match(r"([^,\[]*)(?:\[([^\]]*)\])?", nodelist.strip())
    prefix, ranges = head.group(1), head.group(2)
    if not ranges:
        return prefix
    return prefix + ranges.split(",")[0].split("-")[0]


def value(name: str, default):
    """The job step's value of one runtime key, else `default` (outside srun)."""
    if not in_job_step():
        return default
    if name == "nnodes":
        return int(os.environ["SLURM_STEP_NUM_NODES"])
    if name == "node_rank":   # one task per node (checked before anything starts)
        return int(os.environ.get("SLURM_PROCID") or 0)
    if name == "master_addr":
        nodelist = os.environ.get("SLURM_STEP_NODELIST") or os.environ.get("SLURM_JOB_NODELIST")
        return os.environ.get("MASTER_ADDR") or (first_host(nodelist) if nodelist else default)
    if name == "master_port":
        if os.environ.get("MASTER_PORT"):
            return int(os.environ["MASTER_PORT"])
        job = os.environ.get("SLURM_JOB_ID") or os.environ.get("SLURM_JOBID")
        return PORT_BASE + int(job) % 10000 if job and job.isdigit() else default
    raise ValueError(f"${{slurm:{name}}}: unknown (nnodes, node_rank, master_addr, master_port)")
