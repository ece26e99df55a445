"""Spark's JVM connectors for local sessions: Maven coordinates, fetched once by ``make setup``.

Clusters and Databricks bring their connectors themselves (``spark-submit --packages``, the
runtime). A session that foryou starts itself (a laptop, CI, ``make demo``) puts the JARs
fetched here on ``spark.jars``, so it runs offline after the first fetch.

Why Maven and not Spark's ``spark.jars.packages``: Ivy resolves at every session start and
adds each transitive dependency, including older copies of libraries Spark already ships
(Delta 4.4 pulls Jackson 2.13, Hadoop 3.4 and Parquet 1.16 beside Spark's own). ``fetch``
copies the runtime dependencies with ``mvn dependency:copy-dependencies`` and keeps only the
artifacts Spark does not ship.

Delta's version: pip's ``delta-spark`` is 4.4.1, but Maven Central has no
``io.delta:delta-spark_4.2_2.13:4.4.1`` (the coordinate ``configure_spark_with_delta_pip``
builds from it); 4.4.0 is the newest Delta JAR built for Spark 4.2, and the 4.4.1 Python API
drives it.

Kafka: ``kafka`` is Spark's own Kafka source for Structured Streaming (``foryou
stream-ingest``); ``kafka-broker`` is not a Spark connector but Apache Kafka itself, run as its
own JVM by ``foryou broker start`` (KRaft mode, no ZooKeeper, no Docker). A broker runs apart
from Spark, so it keeps every JAR it depends on (:data:`STANDALONE`).

Example:
    python -m foryou.connectors fetch          # every connector, once
    python -m foryou.connectors classpath delta  # comma-separated JARs for --jars
    spark-submit $(python -m foryou.connectors submit-args delta) jobs/clean.py ...
    spark-submit $(python -m foryou.connectors submit-args delta kafka) jobs/stream_ingest.py ...
"""
from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Sequence

DELTA_EXTENSION = "io.delta.sql.DeltaSparkSessionExtension"
DELTA_CATALOG = "org.apache.spark.sql.delta.catalog.DeltaCatalog"

# Connector name -> Maven coordinates (group:artifact:version) of what it needs.
CONNECTORS: dict[str, tuple[str, ...]] = {
    "delta": ("io.delta:delta-spark_4.2_2.13:4.4.0",),
    "kafka": ("org.apache.spark:spark-sql-kafka-0-10_2.13:4.2.0",),
    "kafka-broker": ("org.apache.kafka:kafka_2.13:4.4.0",),
}
# Connectors that run in a JVM of their own: every dependency is kept, Spark's included.
STANDALONE = frozenset({"kafka-broker"})
# Connectors a session foryou starts itself puts on spark.jars whenever they are fetched.
SESSION_JARS = ("kafka",)
# Connector name -> the static Spark confs a session needs to use it.
SESSION_CONFS: dict[str, dict[str, str]] = {
    "delta": {"spark.sql.extensions": DELTA_EXTENSION,
              "spark.sql.catalog.spark_catalog": DELTA_CATALOG},
}

_POM = """<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>foryou</groupId>
  <artifactId>foryou-{name}-connector</artifactId>
  <version>0</version>
  <packaging>pom</packaging>
  <dependencies>
{dependencies}
  </dependencies>
</project>
"""
_DEPENDENCY = ("    <dependency><groupId>{0}</groupId><artifactId>{1}</artifactId>"
               "<version>{2}</version></dependency>")


class ConnectorError(RuntimeError):
    """A connector's JARs are missing or could not be fetched; the message says what to do."""


def jars_dir() -> Path:
    """Where fetched JARs live: ``FORYOU_JARS_DIR``, else ``<venv>/share/foryou/jars``."""
    configured = os.environ.get("FORYOU_JARS_DIR")
    return Path(configured) if configured else Path(sys.prefix) / "share" / "foryou" / "jars"


def jars(name: str) -> list[str]:
    """The fetched JARs of connector ``name`` (absolute paths, sorted); empty if not fetched."""
    folder = jars_dir() / name
    return sorted(str(p) for p in folder.glob("*.jar")) if folder.is_dir() else []


def submit_args(*names: str) -> list[str]:
    """``spark-submit`` arguments that load connectors ``names`` from their fetched JARs."""
    found: list[str] = []
    confs: list[str] = []
    for name in names:
        have = jars(name)
        if not have:
            raise ConnectorError(f"connector {name!r} is not fetched: run `make setup`")
        found += have
        confs += [a for k, v in SESSION_CONFS.get(name, {}).items() for a in ("--conf", f"{k}={v}")]
    return ["--jars", ",".join(found), *confs]


def coordinates(name: str) -> tuple[str, ...]:
    if name not in CONNECTORS:
        raise ConnectorError(f"unknown connector {name!r}; known: {', '.join(sorted(CONNECTORS))}")
    return CONNECTORS[name]


def artifact_id(jar_name: str) -> str:
    """``jackson-core-2.21.2.jar`` -> ``jackson-core``: the artifact, without its version.

    The version is the first ``-<digits>.`` part, so digits inside an artifact's name stay
    (``spark-sql-kafka-0-10_2.13-4.2.0.jar`` -> ``spark-sql-kafka-0-10_2.13``)."""
    stem = jar_name.removesuffix(".jar")
    match = re.match(r"(.+?)-\d+\.", stem) or re.match(r"(.+?)-\d", stem)
    return match.group(1) if match else stem


def spark_jars_dir() -> Path:
    """The JARs of the Spark this interpreter runs (``SPARK_HOME`` or pyspark's own)."""
    home = os.environ.get("SPARK_HOME")
    if home and (Path(home) / "jars").is_dir():
        return Path(home) / "jars"
    import pyspark

    return Path(pyspark.__file__).parent / "jars"


def fetch(name: str, force: bool = False, mvn: str = "mvn") -> list[str]:
    """Fetch connector ``name``'s JARs with Maven into :func:`jars_dir` (a no-op once there).

    Returns the JARs kept. Raises :class:`ConnectorError` with one line saying why when Maven
    is missing or cannot resolve the artifacts (e.g. Maven Central is unreachable).
    """
    have = jars(name)
    if have and not force:
        return have
    if shutil.which(mvn) is None:
        raise ConnectorError(f"'{mvn}' is not installed (apt-get install maven / brew install maven)")
    deps = "\n".join(_DEPENDENCY.format(*c.split(":")) for c in coordinates(name))
    shipped = (set() if name in STANDALONE
               else {artifact_id(p.name) for p in spark_jars_dir().glob("*.jar")})
    target = jars_dir() / name
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
        pom = Path(tmp, "pom.xml")
        pom.write_text(_POM.format(name=name, dependencies=deps))
        out = Path(tmp, "jars")
        proc = subprocess.run(
            [mvn, "-B", "-q", "-Dstyle.color=never", "-f", str(pom), "dependency:copy-dependencies",
             f"-DoutputDirectory={out}", "-DincludeScope=runtime"],
            capture_output=True, text=True)
        if proc.returncode != 0:
            text = re.sub(r"\x1b\[[0-9;]*m", "", proc.stdout + proc.stderr)
            errors = [line for line in text.splitlines() if "[ERROR]" in line]
            reason = errors[0].replace("[ERROR]", "").strip() if errors else f"mvn exit {proc.returncode}"
            raise ConnectorError(f"Maven could not fetch {', '.join(coordinates(name))} (is Maven "
                                 f"Central reachable?): {reason[:300]}")
        keep = Path(tmp, "keep")
        keep.mkdir()
        for jar in out.glob("*.jar"):
            if artifact_id(jar.name) not in shipped:
                jar.rename(keep / jar.name)
        if target.exists():
            shutil.rmtree(target)
        keep.rename(target)  # one rename: a killed fetch leaves no half folder behind
    return jars(name)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m foryou.connectors",
                                     description="Fetch or list Spark's JVM connectors.")
    sub = parser.add_subparsers(dest="command", required=True)
    get = sub.add_parser("fetch", help="fetch connectors' JARs from Maven (once)")
    get.add_argument("names", nargs="*", default=sorted(CONNECTORS))
    get.add_argument("--force", action="store_true", help="fetch again even if present")
    path = sub.add_parser("classpath", help="print connectors' JARs, comma-separated")
    path.add_argument("names", nargs="+")
    submit = sub.add_parser("submit-args", help="print spark-submit arguments loading connectors")
    submit.add_argument("names", nargs="+")
    args = parser.parse_args(argv)
    if args.command in ("classpath", "submit-args"):
        try:
            words = submit_args(*args.names)
        except ConnectorError as exc:
            print(exc, file=sys.stderr)
            return 1
        print(words[1] if args.command == "classpath" else " ".join(words))
        return 0
    code = 0
    for name in args.names:
        try:
            kept = fetch(name, args.force)
            print(f"connector {name}: {len(kept)} JARs in {jars_dir() / name}")
        except ConnectorError as exc:
            print(f"connector {name}: not fetched, {exc}. The delta-rs bridge stays usable; "
                  f"`make setup` retries.", file=sys.stderr)
            code = 1
    return code


if __name__ == "__main__":
    sys.exit(main())
