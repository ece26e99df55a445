"""foryou: a batch "For You" feed on Spark and Delta Lake."""
from setuptools import find_packages, setup

# The runtime stack is pinned: these versions are verified to install together on
# Python 3.11 with a clean `pip check` (see shared DESIGN.md).
RUNTIME = [
    "pyspark==4.2.0",
    "delta-spark==4.4.1",
    "deltalake==1.6.6",
    "pyarrow==25.0.1",
    "pandas==2.3.3",
    "numpy==2.4.6",
    "torch==2.13.0",
    "mlflow==3.17.2",
    "great-expectations==1.24.1",
    "faiss-cpu==1.15.1",
    "pydantic>=2.7,<3",
    "pyyaml>=6,<7",
    # Imported directly (MLflow brings them too): the logistic baseline, A/B tests, the report.
    "scikit-learn>=1.5",
    "scipy>=1.13",
    "matplotlib>=3.8",
    # The Kafka producer of `foryou produce` (librdkafka, Confluent's client, in the wheel).
    "confluent-kafka==2.16.1",
]

DEV = [
    "pytest>=8",
    "polars>=1.0",
    "duckdb>=1.1",
    "hypothesis>=6.100",  # the ingest fuzz test (tests/test_hostile.py)
    "lightgbm==4.6.0",    # the gradient-boosted trees baseline of bench/train.py --quality
]

setup(
    name="foryou",
    version="0.1.0",
    description="Batch TikTok-style For You feed on Spark + Delta Lake",
    python_requires=">=3.11,<3.12",
    package_dir={"": "lib", "foryou_jobs": "jobs"},
    packages=find_packages("lib") + ["foryou_jobs"],
    install_requires=RUNTIME,
    extras_require={"dev": DEV},
    entry_points={"console_scripts": ["foryou=foryou.cli:main"]},
)
