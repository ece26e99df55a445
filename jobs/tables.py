"""List the lake's tables with version, row count, size and last operation.

    foryou tables [--conf FILE] [--set lake.root=...]
"""
import sys

from foryou.lake.report import tables_text
from foryou.runtime import operator_main


def main(argv=None) -> int:
    def body(config, spark, lake, args) -> int:
        print(tables_text(lake))
        return 0

    return operator_main("tables", body, argv, description=__doc__)


if __name__ == "__main__":
    sys.exit(main())
