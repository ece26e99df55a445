"""The session: our defaults in local mode; what a launcher set is never overridden."""


def test_local_session_uses_the_configured_defaults(spark):
    assert spark.sparkContext.master == "local[2]"
    assert spark.conf.get("spark.sql.shuffle.partitions") == "2"
    assert spark.conf.get("spark.sql.parquet.outputTimestampType") == "TIMESTAMP_MICROS"
    assert spark.conf.get("spark.sql.adaptive.enabled") == "true"
    assert spark.conf.get("spark.sql.session.timeZone") == "UTC"
    assert spark.conf.get("spark.ui.enabled") == "false"
    # Whole-stage code HotSpot would not JIT-compile is not generated (see foryou.spark).
    assert spark.conf.get("spark.sql.codegen.hugeMethodLimit") == "8000"


def test_an_active_session_is_reused(spark, config):
    from foryou.spark import get_spark

    assert get_spark(config) is spark
