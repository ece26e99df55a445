# Two commands matter: `make demo` and `make test`. Both set up the venv first.
PYTHON ?= python3.11
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
SIZE   ?= small
PYTEST_ARGS ?=
# The lake backend of `make demo`: auto (the delta-rs bridge locally), bridge or native
# (Delta-Spark, from the JARs `make setup` fetched).
BACKEND ?= auto

export GX_ANALYTICS_ENABLED := false
export PYSPARK_PYTHON := $(abspath $(PY))
export PYSPARK_DRIVER_PYTHON := $(abspath $(PY))

.PHONY: setup test test-fast demo demo-stream cluster-demo bench fuzz docs deploy-files check-java clean

check-java:
	@command -v java >/dev/null 2>&1 || { echo "Java 17 is required by Spark 4.2 and was not found. Install it: 'apt-get install openjdk-17-jre-headless' (Debian/Ubuntu), 'brew install openjdk@17' (macOS), or set JAVA_HOME."; exit 1; }
	@java -version 2>&1 | grep -Eq 'version "(17|21)' || { echo "Spark 4.2 needs Java 17 (found: $$(java -version 2>&1 | head -1)). Install openjdk-17 and put it first on PATH or set JAVA_HOME."; exit 1; }

# The stamp depends on setup.py, so a second `make setup` with nothing changed is a no-op.
$(STAMP): setup.py
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "$(PYTHON) is required (the pinned stack is verified on Python 3.11)"; exit 1; }
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

# Spark's JVM connectors (Delta) from Maven Central, once; offline afterwards. When Maven cannot
# be reached this says so in one line and set-up goes on: the delta-rs bridge needs no JARs.
JARS := $(VENV)/.jars
$(JARS): $(STAMP) lib/foryou/connectors.py
	@$(PY) -m foryou.connectors fetch && touch $@ || true

# A scheduler's environment: Airflow and its Spark provider alone (no Spark, no PyTorch), in
# which tests/test_deploy.py parses deploy/airflow/foryou_daily.py as a scheduler would.
# Airflow cannot share the main venv: it pulls pyspark-client, a second copy of pyspark's files.
AIRFLOW_VENV := $(VENV)/airflow
AIRFLOW := $(AIRFLOW_VENV)/.installed
$(AIRFLOW): $(STAMP)
	test -d $(AIRFLOW_VENV) || $(PYTHON) -m venv $(AIRFLOW_VENV)
	$(AIRFLOW_VENV)/bin/python -m pip install --quiet apache-airflow==3.3.2 \
	    apache-airflow-providers-apache-spark==6.3.4
	touch $@

setup: check-java $(STAMP) $(JARS) $(AIRFLOW)

test: setup
	$(PY) -m pytest $(PYTEST_ARGS)

test-fast: setup
	$(PY) -m pytest -m "not slow" $(PYTEST_ARGS)

demo: setup
	$(PY) -m foryou.demo --size $(SIZE) --set lake.backend=$(BACKEND)

# The demo world through Kafka: a local broker (Apache Kafka, KRaft), the raw events produced
# into a topic, streamed into bronze/silver (killed once with SIGKILL and restarted), then the
# daily pipeline. Its lake is lakehouse/stream unless FORYOU_LAKE_ROOT says otherwise.
demo-stream: setup
	$(PY) -m foryou.demo_stream --size $(SIZE) --set lake.backend=$(BACKEND) \
	  $(if $(FORYOU_LAKE_ROOT),,--set lake.root=lakehouse/stream)

# The same demo in cluster mode: spark-submit on a standalone local cluster (a master and two
# worker JVMs, 1 core and 1 GB each), so every stage runs on separate executor processes.
# Like a real cluster it runs native Delta, loaded on spark-submit's command line
# (CLUSTER_BACKEND=bridge runs it without Delta's JARs).
# PYTHONSAFEPATH keeps lib/foryou/ (the script's folder) off sys.path.
# Its lake and raw world live apart from the local demo's (both folders are git-ignored).
# The tiny world runs four days here (its preset has two): the ranker needs a train, a
# validation and a test day of examples.
CLUSTER_SIZE ?= tiny
CLUSTER_SET  ?= --set world.days=4
CLUSTER_BACKEND ?= native
cluster-demo: setup
	PYTHONSAFEPATH=1 $(VENV)/bin/spark-submit --master 'local-cluster[2,1,1024]' \
	  $(if $(filter native,$(CLUSTER_BACKEND)),$$($(PY) -m foryou.connectors submit-args delta)) \
	  --conf spark.ui.enabled=false lib/foryou/demo.py --size $(CLUSTER_SIZE) \
	  --set lake.root=lakehouse/cluster-$(CLUSTER_BACKEND) --set lake.backend=$(CLUSTER_BACKEND) \
	  --set ingest.path=landing/cluster-$(CLUSTER_SIZE) $(CLUSTER_SET)

bench: setup
	for b in bench/*.py; do $(PY) $$b || exit 1; done

clean:
	rm -rf lakehouse landing spark-warehouse .pytest_cache

# The ingest fuzz test with many more generated files than `make test` runs (about a minute per 300).
fuzz: setup
	FORYOU_FUZZ_EXAMPLES=3000 $(PY) -m pytest -s -k fuzz tests/test_hostile.py

docs: setup
	$(PY) -m foryou.lake.docs > docs/tables.md

deploy-files: setup
	$(PY) -m foryou.deploy
