"""Distributed training: DDP over :func:`foryou.ranking.train.fit`, launched three ways.

- ``torch_distributor``: Spark's ``TorchDistributor`` (local mode on the driver, or on the
  executors of a cluster / ``local-cluster`` master when ``local_mode=False``);
- ``torchrun``: a ``python -m torch.distributed.run --standalone`` subprocess;
- ``local``: this process (``num_processes`` 1; more processes go through torchrun).

Backend nccl on CUDA, gloo on CPU. Every rank calls ``fit``; only rank 0 writes checkpoints
and returns the result, which carries a checksum of every rank's final weights so callers
(and tests) can check that DDP kept the replicas identical.
"""
from __future__ import annotations

import gc
import hashlib
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import torch

from foryou.config.ranking import RankingConfig
from foryou.ranking.spec import FeatureSpec
from foryou.ranking.train import FitResult, fit

LAUNCHERS = ("torch_distributor", "torchrun", "local")


def state_checksum(state: dict) -> str:
    """sha256 over every tensor of a state dict (in key order): equal iff bitwise equal."""
    digest = hashlib.sha256()
    for key in sorted(state):
        digest.update(key.encode())
        digest.update(state[key].detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


def _worker(spec_json: str, cfg_json: str, train_files, val_files, checkpoint_dir: str,
            init_state, resume: bool, use_gpu: bool, result_path: str | None = None):
    """One DDP rank (RANK, WORLD_SIZE, MASTER_ADDR/PORT come from the launcher). Rank 0
    returns the result and, given ``result_path``, saves it there: TorchDistributor's local
    mode lets every rank write the returned value to one file, so the driver cannot count on
    getting rank 0's."""
    import torch.distributed as dist

    from foryou.config.ranking import RankingConfig as Cfg
    from foryou.ranking.spec import FeatureSpec as Spec

    rank, world_size = int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1))
    cfg = Cfg.model_validate_json(cfg_json).model_copy(update={"use_gpu": use_gpu})
    dist.init_process_group("nccl" if use_gpu else "gloo")
    try:
        if use_gpu:
            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", 0)))
        result = fit(Spec.from_json(spec_json), cfg, train_files, val_files, checkpoint_dir,
                     init_state=init_state, resume=resume, rank=rank, world_size=world_size)
        sums = [None] * world_size
        dist.all_gather_object(sums, state_checksum(result.state_dict))
        result.rank_checksums = sums
    finally:
        # DDP's reducer sits in a reference cycle that holds the gloo group; left to the
        # interpreter's shutdown, its threads are torn down joinable and the rank aborts
        # ("terminate called without an active exception", ~8% of torchrun runs).
        gc.collect()
        dist.destroy_process_group()
    if rank != 0:
        return None
    if result_path:
        tmp = f"{result_path}.tmp"
        torch.save(result, tmp)
        os.replace(tmp, result_path)
    return result


def train_distributed(spec: FeatureSpec, cfg: RankingConfig, train_files: list[str],
                      val_files: list[str], checkpoint_dir, num_processes: int = 2,
                      launcher: str = "torch_distributor", use_gpu: bool | None = None,
                      init_state: dict | None = None, resume: bool = False,
                      local_mode: bool = True) -> FitResult:
    """Train with ``num_processes`` DDP ranks and return rank 0's :class:`FitResult`.

    Args:
        launcher: "torch_distributor" (needs an active SparkSession; ``local_mode=False``
            runs the ranks on executors, e.g. under a ``local-cluster`` master),
            "torchrun" or "local" (see the module docstring).
        use_gpu: None picks CUDA (nccl) when available, else CPU (gloo).
    Returns:
        The result with ``rank_checksums``: one weight checksum per rank.

    Example:
        >>> result = train_distributed(spec, cfg, train, val, "/tmp/ckpt", 2)  # doctest: +SKIP
        >>> len(set(result.rank_checksums))
        1
    """
    if launcher not in LAUNCHERS:
        raise ValueError(f"ranking.launcher: unknown launcher {launcher!r} (one of {LAUNCHERS})")
    if use_gpu is None:
        use_gpu = cfg.use_gpu if cfg.use_gpu is not None else torch.cuda.is_available()
    Path(checkpoint_dir).mkdir(parents=True, exist_ok=True)
    args = (spec.to_json(), cfg.model_dump_json(), list(train_files), list(val_files),
            str(checkpoint_dir), init_state, resume, bool(use_gpu))
    if launcher == "local" and num_processes == 1:
        result = fit(spec, cfg.model_copy(update={"use_gpu": bool(use_gpu)}), train_files,
                     val_files, checkpoint_dir, init_state=init_state, resume=resume)
        result.rank_checksums = [state_checksum(result.state_dict)]
        return result
    if launcher == "torch_distributor":
        from pyspark.ml.torch.distributor import TorchDistributor

        distributor = TorchDistributor(num_processes=num_processes, local_mode=local_mode,
                                       use_gpu=bool(use_gpu))
        if not local_mode:  # ranks run on executors: rank 0's task returns the result
            return distributor.run(_worker, *args)
        with tempfile.TemporaryDirectory(prefix="foryou-ddp-") as tmp:
            result_path = Path(tmp) / "result.pt"
            distributor.run(_worker, *args, str(result_path))
            if not result_path.exists():
                raise RuntimeError("TorchDistributor training finished without rank 0's result")
            return torch.load(result_path, weights_only=False)
    return _torchrun(args, num_processes)


def _torchrun(args: tuple, num_processes: int) -> FitResult:
    with tempfile.TemporaryDirectory(prefix="foryou-torchrun-") as tmp:
        payload, result_path = Path(tmp) / "args.pt", Path(tmp) / "result.pt"
        torch.save((*args, str(result_path)), payload)
        cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone",
               f"--nproc_per_node={num_processes}", "-m", "foryou.ranking.distributed",
               str(payload)]
        done = subprocess.run(cmd, capture_output=True, text=True)
        if done.returncode != 0 or not result_path.exists():
            raise RuntimeError(f"torchrun training failed (exit {done.returncode}):\n"
                               f"{done.stdout[-4000:]}\n{done.stderr[-4000:]}")
        sys.stdout.write(done.stdout)
        return torch.load(result_path, weights_only=False)


if __name__ == "__main__":  # the torchrun entry point: python -m foryou.ranking.distributed
    _worker(*torch.load(sys.argv[1], weights_only=False))
