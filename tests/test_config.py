"""Config: defaults, overlays, overrides and errors that name the key and the file."""
from pathlib import Path

import pytest
import yaml

from foryou.config import Config, ConfigError, load_config, parse_overrides

REPO = Path(__file__).resolve().parents[1]


def test_default_yaml_matches_the_model_defaults():
    data = yaml.safe_load((REPO / "conf" / "default.yaml").read_text())
    assert Config.model_validate(data) == Config()


@pytest.mark.parametrize("env", ["local", "cluster", "databricks"])
def test_every_overlay_loads(env):
    config = load_config([REPO / "conf" / f"{env}.yaml"], environ={})
    assert config.env == env


def test_layers_apply_in_order(tmp_path):
    overlay = tmp_path / "x.yaml"
    overlay.write_text("lake:\n  root: /from/file\nspark:\n  shuffle_partitions: 3\n")
    config = load_config([overlay], ["spark.shuffle_partitions=5"], environ={})
    assert config.lake.root == "/from/file"
    assert config.spark.shuffle_partitions == 5


def test_lake_root_env_overrides_files_but_not_set(tmp_path):
    config = load_config(environ={"FORYOU_LAKE_ROOT": "/env/root"})
    assert config.lake.root == "/env/root"
    config = load_config(overrides=["lake.root=/cli"], environ={"FORYOU_LAKE_ROOT": "/env/root"})
    assert config.lake.root == "/cli"
    assert load_config(environ={}).lake.root == "./lakehouse"


def test_lake_backend_env_is_checked_and_loses_to_set():
    assert load_config(environ={"FORYOU_LAKE_BACKEND": "native"}).lake.backend == "native"
    assert load_config(overrides=["lake.backend=bridge"],
                       environ={"FORYOU_LAKE_BACKEND": "native"}).lake.backend == "bridge"
    assert load_config(environ={}).lake.backend == "auto"
    with pytest.raises(ConfigError, match="FORYOU_LAKE_BACKEND.*lake.backend"):
        load_config(environ={"FORYOU_LAKE_BACKEND": "delta"})


def test_unknown_key_names_key_and_file(tmp_path):
    overlay = tmp_path / "typo.yaml"
    overlay.write_text("lake:\n  rooot: /x\n")
    with pytest.raises(ConfigError) as err:
        load_config([overlay], environ={})
    assert "lake.rooot" in str(err.value) and str(overlay) in str(err.value)


def test_wrong_type_names_key_and_source(tmp_path):
    overlay = tmp_path / "bad.yaml"
    overlay.write_text("spark:\n  shuffle_partitions: many\n")
    with pytest.raises(ConfigError) as err:
        load_config([overlay], environ={})
    assert "spark.shuffle_partitions" in str(err.value) and "bad.yaml" in str(err.value)
    with pytest.raises(ConfigError, match=r"--set .*lake.lock_timeout_s"):
        load_config(overrides=["lake.lock_timeout_s=soon"], environ={})


def test_set_values_are_typed():
    assert parse_overrides(["a.b=3", "a.c=true", "d=x"]) == {"a": {"b": 3, "c": True}, "d": "x"}
    with pytest.raises(ConfigError, match="key=value"):
        parse_overrides(["novalue"])


def test_missing_file_is_named(tmp_path):
    with pytest.raises(ConfigError, match="nope.yaml: config file not found"):
        load_config([tmp_path / "nope.yaml"], environ={})
