"""The offline protocol on an interaction log: split by time, run every stage on the past,
score the feed's first K ranks on the held-out days beside popularity, item-to-item
co-occurrence (SAR-style) and ALS alone.

    foryou benchmark --run-date T --path LOG --columns user=COL,item=COL,ts=COL[,weight=COL]
                     [--sep SEP] [--ts-unit s|ms] [--test-days 7] [--k 10]

Interactions before T are the train part, those of [T, T + test-days) the held-out part.
The train part is ingested, as a Parquet copy of its rows, into a lake of its own
(``<lake.root>/_benchmark/<T>``, every other setting as given) and ``foryou pipeline
--run-date T --from clean`` runs there: the same commands as README "Your data", so the feed
scored is the feed a user would get. Then :func:`foryou.evaluation.holdout.holdout_table`
scores every list on the same users with train-seen items removed. The table is printed,
written as CSV and as an HTML report (``reports/benchmark-<T>.html``) in the benchmark lake,
and recorded in this lake's gold.metrics (``holdout.<list>.<metric>``). A split by time, not
per user at random: every stage is point-in-time, so only a time split trains on nothing the
test part knows.
"""
import datetime as dt
import sys
import tempfile
from pathlib import Path

import pandas as pd
import yaml
from pyspark.sql import functions as F

from foryou.cli import main as foryou
from foryou.config import overlay
from foryou.evaluation import report
from foryou.evaluation.holdout import holdout_table
from foryou.ingest import interactions
from foryou.ingest.batch import REASON, IngestError
from foryou.ingest.sources import EXTENSIONS, list_files
from foryou.lake import Lake
from foryou.privacy.pseudonyms import load_key, with_pseudonyms
from foryou.runtime import JobContext, job_main
from foryou.stages import StageResult

_TS = "_v_ts"


def add_arguments(parser) -> None:
    parser.add_argument("--path", required=True, help="the interaction log (file or folder)")
    parser.add_argument("--columns", required=True, help="user=COL,item=COL,ts=COL[,weight=COL]")
    parser.add_argument("--sep", default=",", help="CSV field separator, \\t for tab")
    parser.add_argument("--ts-unit", choices=tuple(interactions.TS_UNITS),
                        help="the ts column is epoch seconds or milliseconds")
    parser.add_argument("--test-days", type=int, default=7, help="held-out days from the run date")
    parser.add_argument("--k", type=int, default=10, help="ranks scored")


def run(ctx: JobContext) -> StageResult:
    args, spark, start = ctx.args, ctx.spark, ctx.run_date
    sep = "\t" if args.sep in ("\\t", "tab") else args.sep
    end = start + dt.timedelta(days=args.test_days)
    mapping = interactions.ColumnMap.parse(args.columns)
    files = [f.path for f in list_files(spark, args.path, EXTENSIONS["csv"] + EXTENSIONS["parquet"])]
    if not files:
        raise IngestError(f"no interaction files under {args.path} (csv, tsv, txt or parquet)")
    interactions.check_columns(spark, files, mapping.roles(), sep)

    # The split, on the adapter's own reading of the rows (what ingest would accept).
    adapter = interactions.adapter(spark, mapping, sep, args.ts_unit)
    rows = adapter.check(adapter.read(files).frame).where(F.col(REASON).isNull())
    day_start = lambda d: F.lit(dt.datetime.combine(d, dt.time(), dt.timezone.utc))  # noqa: E731
    root = f"{ctx.config.lake.root.rstrip('/')}/_benchmark/{start}"
    train_path = f"{root}/raw/train"
    (rows.where(F.col(_TS) < day_start(start)).select(*mapping.columns())
     .write.mode("overwrite").parquet(train_path))
    test = (rows.where((F.col(_TS) >= day_start(start)) & (F.col(_TS) < day_start(end)))
            .select(F.col(mapping.user).alias("user_id"), F.col(mapping.item).alias("content_id")))

    config = overlay(ctx.config, {"lake": {"root": root}}, "benchmark lake")
    # Every setting of this run, for the stages' own command lines; --set last, so that
    # FORYOU_LAKE_ROOT cannot point them back at this lake.
    with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as conf:
        yaml.safe_dump(config.model_dump(mode="json"), conf)
    common = ["--run-date", str(start), "--conf", conf.name, "--set", f"lake.root={root}"]
    ingest = ["ingest", "--format", "interactions", "--path", train_path, "--columns", args.columns,
              *(["--ts-unit", args.ts_unit] if args.ts_unit else []), *common]
    for argv in (ingest, ["pipeline", "--from", "clean", *common]):
        if foryou(argv) != 0:
            raise RuntimeError(f"benchmark: `foryou {' '.join(argv[:2])}` failed on the train part "
                               f"(lake {root}); its output above says why")

    lake = Lake(spark, config)
    train = (lake.read("silver.events").where(F.col("event_type") == "view")
             .select("user_id", "content_id", "event_ts"))
    test = with_pseudonyms(test, ["user_id"], load_key(config.privacy, spark).value)
    table = holdout_table(train, test, lake.read("gold.user_candidates"),
                          lake.read("gold.candidate_pool", partitions=[start]),
                          train.select("content_id").distinct().count(), args.k)
    if table.empty:
        raise ValueError(f"benchmark: no held-out interaction in [{start}, {end}) by a user with a "
                         "feed; choose an earlier --run-date or more --test-days")
    return _report(table, args.k, root, start, end)


def _report(table: pd.DataFrame, k: int, root: str, start: dt.date, end: dt.date) -> StageResult:
    out = StageResult()
    shown = table.rename(columns={m: f"{m}@{k}" for m in ("ndcg", "precision", "recall", "map")})
    print(f"  hold-out [{start}, {end}), {int(table['users'].iloc[0]):,} users, train-seen items "
          f"excluded on every side:")
    print(shown.to_string(index=False, float_format=lambda v: f"{v:.4f}"))
    if "://" not in root or root.startswith("file:"):
        path = Path(root.removeprefix("file:")) / f"holdout-{start}.csv"
        shown.to_csv(path, index=False)
        print(f"  table: {path}")
        page = report.write(report.ReportData(run_date=start, title="foryou benchmark", holdout=table,
                                              holdout_k=k),
                            report.report_dir(root, None), report.BENCHMARK_SECTIONS, stem="benchmark")
        print(f"  report: {page}")
    print(f"  benchmark lake: {root}")
    for row in table.itertuples(index=False):
        for metric in ("ndcg", "precision", "recall", "map", "coverage"):
            out.record(f"holdout.{row.list}.{metric}", getattr(row, metric), "ratio",
                       k=k, users=int(row.users), start=str(start), end=str(end))
    return out


def main(argv=None) -> int:
    return job_main("benchmark", run, argv, add_arguments, description=__doc__)


if __name__ == "__main__":
    sys.exit(main())
