"""torchrun process groups: data parallel (dp) × tensor parallel (tp), mesh explicit.

World = dp × tp processes. The mesh's "tp" dimension shards the language model (transformers'
tensor-parallel plans over DTensor); the "dp" dimension splits the dataset. Results are
gathered to rank 0, which alone writes reports.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import torch.distributed as dist

from inference.device import accelerator

BACKENDS = {"npu": "hccl", "cuda": "nccl", "cpu": "gloo"}
STORE_TIMEOUT_SECONDS = 1800      # torch's default for process groups


@dataclass
class Parallel:
    rank: int = 0
    world_size: int = 1
    dp: int = 1
    tp: int = 1
    dp_rank: int = 0
    tp_rank: int = 0
    tp_mesh: Any = None          # DeviceMesh of this rank's tp group, None when tp == 1
    # the key-value store of the process group (a TCPStore served by rank 0), created here
    # and passed to init_process_group, so callers use it without torch's private API
    store: Any = None

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def init_parallel(tp: int, dp: int, device: str) -> Parallel:
    """Start the process group when torchrun launched several processes."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if tp * dp != world:
        raise ValueError(f"runtime.tp={tp} × runtime.dp={dp} = {tp * dp} processes, but "
                         f"{world} were started (NPROC / torchrun --nproc_per_node)")
    if world == 1:
        return Parallel()
    device_type = device.split(":")[0]
    module = accelerator(device_type)
    if module is not None:
        module.set_device(int(os.environ.get("LOCAL_RANK") or 0))
    rank = int(os.environ["RANK"])
    # the rendezvous store, made here (MASTER_ADDR/MASTER_PORT as torchrun sets them): rank 0
    # serves it, the others connect; the process group and runners' shared counters use it
    # under torchrun the agent already serves the store at MASTER_PORT: every rank connects
    serves = rank == 0 and os.environ.get("TORCHELASTIC_USE_AGENT_STORE") != "True"
    store = dist.TCPStore(os.environ.get("MASTER_ADDR") or "127.0.0.1",
                          int(os.environ["MASTER_PORT"]), world, is_master=serves,
                          timeout=timedelta(seconds=STORE_TIMEOUT_SECONDS))
    dist.init_process_group(BACKENDS[device_type], store=store, rank=rank, world_size=world)
    from torch.distributed.device_mesh import init_device_mesh

    mesh = init_device_mesh(device_type, (dp, tp), mesh_dim_names=("dp", "tp"))
    return Parallel(rank=dist.get_rank(), world_size=world, dp=dp, tp=tp,
                    dp_rank=mesh.get_local_rank("dp"), tp_rank=mesh.get_local_rank("tp"),
                    tp_mesh=mesh["tp"] if tp > 1 else None, store=store)


def all_gather(parallel: Parallel, value: Any) -> list[Any]:
    """Every rank's value, in rank order (just [value] in one process)."""
    if not parallel.distributed:
        return [value]
    gathered: list[Any] = [None] * parallel.world_size
    dist.all_gather_object(gathered, value)
    return gathered


def broadcast_from_main(parallel: Parallel, value: Any) -> Any:
    if not parallel.distributed:
        return value
    box = [value]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def shutdown(parallel: Parallel) -> None:
    if parallel.distributed and dist.is_initialized():
        dist.destroy_process_group()
