"""Give the ranker's ``champion`` alias back to the previous champion (or a named version).

    foryou rollback-ranker [--version N]

The demoted version keeps its registry entry, tagged ``rolled_back=true``; a second rollback
goes one champion further back.
"""
import sys

from foryou.ranking.registry import ChampionMissing, rollback
from foryou.runtime import operator_main


def add_arguments(parser) -> None:
    parser.add_argument("--version", help="make this registered version the champion instead")


def main(argv=None) -> int:
    def body(config, spark, lake, args) -> int:
        try:
            demoted, restored = rollback(config, args.version)
        except (ChampionMissing, ValueError) as exc:
            print(f"foryou rollback-ranker: {exc}", file=sys.stderr)
            return 2
        print(f"{config.mlflow.registered_model}: champion is now version {restored} "
              f"(was {demoted})")
        return 0

    return operator_main("rollback-ranker", body, argv, add_arguments, description=__doc__)


if __name__ == "__main__":
    sys.exit(main())
