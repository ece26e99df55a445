"""Train the multi-task ranker, evaluate it against baselines, register it, maybe promote it.

    foryou train-ranker --run-date YYYY-MM-DD [--processes N] [--launcher L] [--incremental]
                        [--resume] [--baselines popularity,logistic,single_task]
                        [--single-task click,long_view] [--truth PATH] [--eval-rows N]

Trains on gold.training_examples before the held-out days (``ranking.validation_days`` /
``ranking.test_days``), logs the run to MLflow, registers the model with alias
``challenger`` and makes it ``champion`` only if it beats the champion on the test days by
``mlflow.promotion_metric`` + ``mlflow.promotion_margin``. ``--incremental`` warm-starts from
the champion and fine-tunes on the days after its last training day. The quality table
(ranker, champion, baselines, oracle) is printed and written to gold.metrics.
"""
import sys

from foryou.ranking.quality import record
from foryou.ranking.training_run import (
    BASELINES,
    TrainOptions,
    gate_metrics,
    summary,
    train_ranker,
)
from foryou.runtime import JobContext, job_main


def _names(text: str) -> tuple[str, ...]:
    return tuple(n.strip() for n in text.split(",") if n.strip() and n.strip() != "none")


def add_arguments(parser) -> None:
    parser.add_argument("--processes", type=int, help="DDP processes (default ranking.num_processes)")
    parser.add_argument("--launcher", choices=["local", "torch_distributor", "torchrun"],
                        help="how to start them (default ranking.launcher)")
    parser.add_argument("--incremental", action="store_true",
                        help="warm-start from the champion and fine-tune on the newer days")
    parser.add_argument("--resume", action="store_true", help="continue from the last checkpoint")
    parser.add_argument("--baselines", type=_names, default=BASELINES,
                        help=f"comma list of {','.join(BASELINES)} (or none)")
    parser.add_argument("--single-task", type=_names, default=("click", "long_view", "complete", "like"),
                        help="tasks to train single-task DNN baselines for "
                             "(default: click,long_view,complete,like)")
    parser.add_argument("--truth", metavar="PATH",
                        help="a generated world's truth/impressions for the oracle "
                             "(default: <ingest.path>/truth/impressions when present)")
    parser.add_argument("--eval-rows", type=int, default=200_000,
                        help="held-out rows (whole users) to evaluate on")


def run(ctx: JobContext) -> None:
    args = ctx.args
    options = TrainOptions(processes=args.processes, launcher=args.launcher,
                           incremental=args.incremental, resume=args.resume,
                           baselines=args.baselines, single_task=args.single_task,
                           eval_rows=args.eval_rows, truth=args.truth)
    outcome = train_ranker(ctx.lake, ctx.config, ctx.run_date, options)
    print(summary(outcome))
    if outcome.registered is None:
        ctx.metrics.record("registered_version", None, "version", message=outcome.message)
        return
    record(ctx.metrics, outcome.report)
    if outcome.unbiased is not None:
        record(ctx.metrics, outcome.unbiased, scope="unbiased.")
    for name, value, detail in gate_metrics(outcome.history):
        ctx.metrics.record(name, value, "nats", **detail)
    ctx.metrics.record("registered_version", float(outcome.registered.version), "version",
                       run_id=outcome.registered.run_id)
    ctx.metrics.record("promoted", float(outcome.decision.promoted), "bool",
                       **outcome.decision.as_dict())
    ctx.metrics.record("epochs", len(outcome.history), "epochs")


def main(argv=None) -> int:
    return job_main("train-ranker", run, argv, add_arguments, description=__doc__)


if __name__ == "__main__":
    sys.exit(main())
