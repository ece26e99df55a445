"""Ranker training throughput: loader rows/s vs model step rate, 1 process vs 2-process DDP;
and the ranker's quality on a pipeline's lake against its baselines and the oracle.

    python bench/train.py [--files 8] [--rows-per-file 20000] [--epochs 1] [--threads 1]
    python bench/train.py --vocabulary 1e4,1e5,4e5 [--rows-per-file 20000] [--threads 1]
    python bench/train.py --quality LAKE_ROOT --raw LANDING [--run-date D] [--single-task T,T|none] [--set k=v ...]

Data: synthetic Parquet with the exact gold.training_examples schema
(``foryou.ranking.synthetic``), because building a gold world large enough to time training
takes far longer than the training itself; the loader and model see the same columns and
types as on real examples. Figures:

- loader rows/s: ``iter_batches`` alone (Parquet -> normalised tensors, one process);
- model step samples/s: forward + backward + optimiser step on pre-loaded batches (one process);
  ``--vocabulary`` prints it per item vocabulary, row-wise (sparse) against dense Adam;
- fit samples/s: the real training loop (loader + steps), 1 process and 2-process DDP (gloo,
  torchrun launcher), as reported by ``fit``'s history (all ranks' rows / wall time);
- the peer ratio: loader rows/s / step samples/s (target >= 3: the loader is not the bottleneck).

``--quality`` trains the ranker on the examples of a lake the pipeline built (``make demo``,
``make demo SIZE=large`` for the 10M-event world) as ``foryou train-ranker`` does in one
process, but registers nothing, and prints the quality table of the held-out test day: the
MMoE, the popularity, logistic and single-task baselines and the oracle, with the
oracle-normalised AUC ``(AUC - 0.5) / (AUC_oracle - 0.5)`` of click and long_view (target
>= 0.9) and the MMoE's mean GAUC against the single-task DNNs'.
"""
from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import torch  # noqa: E402

from common import add_overrides, save  # noqa: E402
from foryou.ranking import FeatureSpec, MultiTaskRanker, RankingConfig, fit, iter_batches, train_distributed  # noqa: E402
from foryou.ranking.optim import RankerOptimizer  # noqa: E402
from foryou.ranking.synthetic import write_examples  # noqa: E402
from foryou.ranking.train import head_losses  # noqa: E402


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=8)
    parser.add_argument("--rows-per-file", type=int, default=20000)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=512)
    parser.add_argument("--threads", type=int, default=1, help="torch threads per process")
    parser.add_argument("--architecture", default="mmoe")
    parser.add_argument("--quality", metavar="LAKE_ROOT",
                        help="instead: the quality table of a ranker trained on this lake")
    parser.add_argument("--raw", metavar="LANDING",
                        help="--quality: the world's landing folder (its truth/ holds the oracle)")
    parser.add_argument("--run-date", type=lambda v: dt.date.fromisoformat(v),
                        help="--quality: the last example date used (default: the latest)")
    add_overrides(parser, "--quality: a config override (repeatable), e.g. ranking.epochs=8")
    parser.add_argument("--single-task", metavar="TASKS",
                        help="--quality: the single-task DNN baselines, comma-separated, or 'none' "
                             "(default: train-ranker's: click,long_view,complete,like); each "
                             "costs one training")
    parser.add_argument("--vocabulary", metavar="ITEMS",
                        help="instead: model step samples/s at these item vocabularies "
                             "(comma-separated, e.g. 1e4,1e5,4e5), row-wise against dense Adam")
    parser.add_argument("--local-cluster", action="store_true",
                        help="instead: 2-process DDP with TorchDistributor(local_mode=False) on "
                             "the executors of a local-cluster[2,1,1024] Spark master")
    args = parser.parse_args(argv)
    if args.vocabulary:
        return vocabulary(args)
    if args.quality:
        return quality(args)
    if args.local_cluster:
        return local_cluster(args)
    cfg = RankingConfig(batch_size=args.batch_size, epochs=args.epochs, threads=args.threads,
                        architecture=args.architecture)
    torch.set_num_threads(args.threads)
    result: dict = {"data": "synthetic gold.training_examples schema (foryou.ranking.synthetic)",
                    "files": args.files, "rows_per_file": args.rows_per_file,
                    "batch_size": args.batch_size, "threads_per_process": args.threads,
                    "architecture": args.architecture}
    with tempfile.TemporaryDirectory(prefix="bench-train-") as tmp:
        tmp = Path(tmp)
        started = time.perf_counter()
        files = write_examples(tmp / "train", args.files, args.rows_per_file, seed=1)
        val = write_examples(tmp / "val", 1, max(args.rows_per_file // 4, 1000), seed=2)
        result["generate_s"] = round(time.perf_counter() - started, 2)
        spec = FeatureSpec.from_files(files, cfg)
        rows = args.files * args.rows_per_file

        # Warm the page cache: read one file through the loader and drop the batches.
        sum(1 for _ in iter_batches(files[:1], spec, args.batch_size))
        started = time.perf_counter()
        batches = list(iter_batches(files, spec, args.batch_size))
        loader = rows / (time.perf_counter() - started)

        step = step_rate(spec, cfg, batches)
        del batches

        one = fit(spec, cfg, files, val, tmp / "ckpt1")
        two = train_distributed(spec, cfg, files, val, tmp / "ckpt2", num_processes=2,
                                launcher="torchrun", use_gpu=False)
    fit1 = max(h["samples_per_s"] for h in one.history)
    fit2 = max(h["samples_per_s"] for h in two.history)
    result.update({
        "loader_rows_per_s": round(loader), "step_samples_per_s": round(step),
        "loader_over_step": round(loader / step, 2), "loader_target_met": loader >= 3 * step,
        "fit_1proc_samples_per_s": round(fit1), "fit_ddp2_samples_per_s": round(fit2),
        "ddp2_over_1proc": round(fit2 / fit1, 2),
        "ddp_replicas_identical": len(set(two.rank_checksums)) == 1,
        "val_auc_click_1proc": round(one.history[-1].get("val_auc_click", float("nan")), 4),
        "cuda": "not run: this session has no GPU",
    })
    print(f"loader      {loader:12,.0f} rows/s")
    print(f"model step  {step:12,.0f} samples/s   loader/step = {loader / step:.1f}x (target >= 3x)")
    print(f"fit 1 proc  {fit1:12,.0f} samples/s")
    print(f"fit DDP x2  {fit2:12,.0f} samples/s   ratio to 1 proc = {fit2 / fit1:.2f}")
    save("train", result)
    return 0


def step_rate(spec: FeatureSpec, cfg: RankingConfig, batches: list[dict]) -> float:
    """Samples/s of forward + backward + optimiser step over pre-loaded batches (as ``fit``
    steps: ``RankerOptimizer``, so row-wise Adam on the tables when sparse_embeddings)."""
    model = MultiTaskRanker(spec, cfg)
    optimizer = RankerOptimizer(model, cfg)
    rows = sum(b["position"].shape[0] for b in batches)
    started = time.perf_counter()
    for batch in batches:
        loss = sum(head_losses(model(batch), batch).values())
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return rows / (time.perf_counter() - started)


def vocabulary(args) -> int:
    """Step samples/s as the item vocabulary grows, row-wise (sparse) against dense Adam on
    the same batches: a step's cost should not depend on the vocabulary."""
    sizes = [int(float(v)) for v in args.vocabulary.split(",")]
    out: dict = {"batch_size": args.batch_size, "threads": args.threads, "rows": args.rows_per_file,
                 "sizes": {}}
    torch.set_num_threads(args.threads)
    print(f"{'items':>10} {'dense Adam':>14} {'row-wise':>14} {'ratio':>7}")
    with tempfile.TemporaryDirectory(prefix="bench-train-vocab-") as tmp:
        for items in sizes:
            files = write_examples(Path(tmp) / str(items), 1, args.rows_per_file, seed=1,
                                   n_items=items, n_users=max(50, items // 9))
            cfg = RankingConfig(batch_size=args.batch_size, threads=args.threads)
            spec = FeatureSpec.from_files(files, cfg)  # the spec does not depend on the optimiser
            batches = list(iter_batches(files, spec, args.batch_size))
            rates = {sparse: step_rate(spec, cfg.model_copy(update={"sparse_embeddings": sparse}), batches)
                     for sparse in (False, True)}
            out["sizes"][items] = {"vocab_sizes": spec.vocab_sizes,
                                   "dense_samples_per_s": round(rates[False]),
                                   "sparse_samples_per_s": round(rates[True]),
                                   "sparse_over_dense": round(rates[True] / rates[False], 2)}
            print(f"{items:>10,} {rates[False]:>14,.0f} {rates[True]:>14,.0f} "
                  f"{rates[True] / rates[False]:>6.1f}x", flush=True)
    save("train_vocabulary", out)
    return 0


def quality(args) -> int:
    """Train on a pipeline lake's examples and print the quality table (nothing registered)."""
    from common import session
    from foryou.features import columns as C
    from foryou.lake import Lake
    from foryou.ranking import data as D
    from foryou.config.settings import RankingSettings
    from foryou.ranking.stage import BASELINES, EXTRA_BASELINES, TrainOptions, evaluate

    config, spark = session(extra=[f"lake.root={args.quality}",
                                   *([f"ingest.path={args.raw}"] if args.raw else []), *args.overrides])
    lake = Lake(spark, config)
    cfg = config.ranking
    run_date = args.run_date or max(D.example_dates(lake))
    split = D.split_dates(lake, run_date, cfg, config.features)
    version = lake.version(C.EXAMPLES)
    spec = FeatureSpec.from_lake(lake, config, train_dates=split[D.TRAIN], version=version)
    files = {k: D.example_files(lake, v, version) for k, v in split.items()}
    options = TrainOptions(truth=str(Path(args.raw) / "truth" / "impressions") if args.raw else None,
                           baselines=(*BASELINES, *EXTRA_BASELINES))
    if args.single_task:
        options = (dataclasses.replace(options, baselines=tuple(
            b for b in options.baselines if b != "single_task")) if args.single_task == "none"
            else dataclasses.replace(options, single_task=tuple(args.single_task.split(","))))
    with tempfile.TemporaryDirectory(prefix="bench-quality-") as tmp:
        started = time.perf_counter()
        result = fit(spec, cfg, files[D.TRAIN], files[D.VALIDATION], Path(tmp) / "mmoe")
        train_s = time.perf_counter() - started
        model = MultiTaskRanker(spec, cfg)
        model.load_state_dict(result.state_dict)
        model.eval()
        eval_key = D.TEST if files[D.TEST] else D.VALIDATION
        report, _ = evaluate(lake, RankingSettings.of(config), spec, model, files, split, eval_key,
                             Path(tmp), options)
    spark.stop()
    print(report.text())
    out = {"lake": args.quality, "split": {k: [str(d) for d in v] for k, v in split.items()},
           "evaluated_on": eval_key, "rows": report.rows, "users": report.users,
           "train_s": round(train_s, 1), "best_epoch": result.best_epoch,
           "overrides": args.overrides, "table": report.table.round(4).to_dict(orient="index")}
    for task in ("click", "long_view"):
        value = report.normalised_auc("mmoe", task)
        out[f"normalised_auc_{task}"] = None if value is None else round(value, 4)
        if value is not None:
            print(f"oracle-normalised AUC {task:9s} {value:.3f}   (target >= 0.9)")
    mmoe = report.metric("mmoe", "mean_gauc")
    for peer, label in (("single_task", "single-task DNNs"), ("lightgbm", "LightGBM"),
                        ("logistic", "logistic regression")):
        other = report.metric(peer, "mean_gauc")
        if mmoe is not None and other is not None:
            out[f"mean_gauc_mmoe_minus_{peer}"] = round(mmoe - other, 4)
            print(f"mean GAUC: MMoE {mmoe:.4f} vs {label} {other:.4f} (target: MMoE >=)")
    save("train_quality", out)
    return 0


def local_cluster(args) -> int:
    """TorchDistributor in distributed mode: each rank is a barrier task on an executor."""
    from common import session

    cfg = RankingConfig(batch_size=args.batch_size, epochs=args.epochs, threads=args.threads)
    _, spark = session(master="local-cluster[2,1,1024]", shuffle_partitions=2)
    try:
        with tempfile.TemporaryDirectory(prefix="bench-train-lc-") as tmp:
            tmp = Path(tmp)
            files = write_examples(tmp / "train", args.files, args.rows_per_file, seed=1)
            val = write_examples(tmp / "val", 1, max(args.rows_per_file // 4, 1000), seed=2)
            spec = FeatureSpec.from_files(files, cfg)
            started = time.perf_counter()
            out = train_distributed(spec, cfg, files, val, tmp / "ckpt", num_processes=2,
                                    launcher="torch_distributor", use_gpu=False, local_mode=False)
            seconds = time.perf_counter() - started
    finally:
        spark.stop()
    result = {"master": "local-cluster[2,1,1024]", "launcher": "torch_distributor(local_mode=False)",
              "files": args.files, "rows_per_file": args.rows_per_file,
              "ranks": len(out.rank_checksums),
              "replicas_identical": len(set(out.rank_checksums)) == 1,
              "fit_samples_per_s": round(max(h["samples_per_s"] for h in out.history)),
              "wall_s_including_launch": round(seconds, 1)}
    print(result)
    save("train_local_cluster", result)
    return 0 if result["replicas_identical"] and result["ranks"] == 2 else 1


if __name__ == "__main__":
    raise SystemExit(main())
