"""Fine-tune the champion ranker on the examples since its last update; an hourly job.

    foryou update-ranker [--until YYYY-MM-DDTHH:MM]

Writes the closed impressions of the days the daily job has not built yet as streamed rows of
gold.training_examples, fine-tunes the champion on the examples after its data end (its
embedding tables grown to the ids admitted since), registers the result with its parent
version and data window, and makes it champion only if it beats the champion on the window's
most recent rows by ``mlflow.promotion_metric`` + ``mlflow.promotion_margin``, the daily
training's gate. ``foryou rollback-ranker`` undoes a promotion. Figures go to gold.metrics
(stage ``update-ranker``).
"""
import datetime as dt
import sys

from foryou.config.settings import RankingSettings
from foryou.ranking import update
from foryou.runtime import operator_main


def _time(text: str) -> dt.datetime:
    value = dt.datetime.fromisoformat(text)
    return value.replace(tzinfo=dt.timezone.utc) if value.tzinfo is None else value


def add_arguments(parser) -> None:
    parser.add_argument("--until", type=_time, metavar="TIME",
                        help="the newest event time to learn from (ISO, UTC; default: the newest event "
                             "time as the stream's watermark takes it)")


def main(argv=None) -> int:
    def body(config, spark, lake, args) -> int:
        update.commit(lake, update.run(lake, RankingSettings.of(config), args.until))
        return 0

    return operator_main(update.JOB, body, argv, add_arguments, description=__doc__)


if __name__ == "__main__":
    sys.exit(main())
