"""Process-group set-up for torchrun (gloo on CPU, NCCL on GPU), shared by training, annotation and
fine-tuning."""

from __future__ import annotations

import os

import torch
import torch.distributed as dist


def attempt_store(rank: int, world: int) -> dist.Store:
    """The rendezvous store of this torchrun attempt, its keys apart from earlier attempts'.

    torchrun's agent keeps one store across `--max-restarts` restarts, and the ranks of a
    restarted attempt would read the addresses the dead attempt published there and connect to
    them (gloo: "connectFullMesh failed ... Connection refused", or a hang)."""
    agent_hosts_it = os.environ.get("TORCHELASTIC_USE_AGENT_STORE") == str(True)
    store = dist.TCPStore(os.environ["MASTER_ADDR"], int(os.environ["MASTER_PORT"]), world,
                          is_master=not agent_hosts_it and rank == 0)
    return dist.PrefixStore(f"attempt_{os.environ.get('TORCHELASTIC_RESTART_COUNT', '0')}", store)


def setup_distributed() -> tuple[int, int, torch.device]:
    if "RANK" in os.environ and "WORLD_SIZE" in os.environ and not dist.is_initialized():
        backend = "nccl" if torch.cuda.is_available() else "gloo"
        rank, world = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
        dist.init_process_group(backend, store=attempt_store(rank, world), rank=rank, world_size=world)
    rank = dist.get_rank() if dist.is_initialized() else 0
    world = dist.get_world_size() if dist.is_initialized() else 1
    if torch.cuda.is_available():
        local = int(os.environ.get("LOCAL_RANK", 0))
        torch.cuda.set_device(local)
        return rank, world, torch.device("cuda", local)
    return rank, world, torch.device("cpu")
