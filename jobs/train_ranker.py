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

from foryou.config.settings import RankingSettings
from foryou.ranking import stage
from foryou.ranking.stage import BASELINES, TrainOptions
from foryou.runtime import JobContext, job_main
from foryou.stages import StageResult


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


def run(ctx: JobContext) -> StageResult:
    args = ctx.args
    options = TrainOptions(processes=args.processes, launcher=args.launcher,
                           incremental=args.incremental, resume=args.resume,
                           baselines=args.baselines, single_task=args.single_task,
                           eval_rows=args.eval_rows, truth=args.truth)
    return stage.run(ctx.lake, RankingSettings.of(ctx.config), ctx.run_date, ctx.key(), ctx.force,
                     options=options)


def main(argv=None) -> int:
    return job_main("train-ranker", run, argv, add_arguments, description=__doc__)


if __name__ == "__main__":
    sys.exit(main())
