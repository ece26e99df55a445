"""Restore a table to an earlier version (a new commit; history is kept).

    foryou restore TABLE --version N
"""
import sys

from foryou.runtime import operator_main


def add_arguments(parser) -> None:
    parser.add_argument("table", help="table name, e.g. gold.user_candidates")
    parser.add_argument("--version", type=int, required=True, help="the version to restore")


def main(argv=None) -> int:
    def body(config, spark, lake, args) -> int:
        new_version = lake.restore(args.table, args.version)
        print(f"{args.table}: restored to the content of version {args.version} "
              f"(now version {new_version})")
        return 0

    return operator_main("restore", body, argv, add_arguments, description=__doc__)


if __name__ == "__main__":
    sys.exit(main())
