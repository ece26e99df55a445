"""Show a table's commit history, newest first.

    foryou history TABLE [--limit N]
"""
import sys

from foryou.lake.report import history_text
from foryou.runtime import operator_main


def add_arguments(parser) -> None:
    parser.add_argument("table", help="table name, e.g. silver.events")
    parser.add_argument("--limit", type=int, default=None, help="newest N commits only")


def main(argv=None) -> int:
    def body(config, spark, lake, args) -> int:
        print(history_text(lake, args.table, args.limit))
        return 0

    return operator_main("history", body, argv, add_arguments, description=__doc__)


if __name__ == "__main__":
    sys.exit(main())
