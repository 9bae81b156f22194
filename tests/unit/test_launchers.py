from __future__ import annotations

from mrsjobs.api.v2 import java_list, java_map
from mrsjobs.engines.local.commands import spark_submit_args, split_spark_options

LOOPBACK = ["--conf", "spark.driver.host=127.0.0.1", "--conf",
            "spark.driver.bindAddress=127.0.0.1", "--conf", "spark.ui.enabled=false"]


def test_yarn_master_and_deploy_mode_become_the_clusters_master() -> None:
    args = ["--master", "yarn-cluster", "--deploy-mode", "cluster", "--class", "a.B",
            "/jobs/x.jar", "10"]
    out = spark_submit_args(args, master="local[2]", properties={}, defaults={})
    assert out == ["--master", "local[2]", *LOOPBACK, "--class", "a.B", "/jobs/x.jar", "10"]


def test_equals_forms_and_flags_are_understood() -> None:
    args = ["--master=yarn", "--verbose", "--py-files", "a.py", "main.py", "--master", "x"]
    out = spark_submit_args(args, master="local[1]", properties={}, defaults={})
    # The application's own "--master x" is an application argument: left alone.
    assert out[-6:] == ["--verbose", "--py-files", "a.py", "main.py", "--master", "x"]
    assert out[:2] == ["--master", "local[1]"]
    assert "--master=yarn" not in out


def test_properties_become_conf_and_defaults_yield_to_the_job() -> None:
    out = spark_submit_args(["--driver-memory", "2g", "app.py"], master="local[2]",
                            properties={"spark.executor.cores": "1"},
                            defaults={"spark.driver.memory": "512m"})
    assert "spark.driver.memory=512m" not in out
    assert out[2:4] == ["--conf", "spark.executor.cores=1"]
    assert out[-3:] == ["--driver-memory", "2g", "app.py"]


def test_loopback_settings_cannot_be_overridden() -> None:
    out = spark_submit_args(["app.py"], master="local[2]",
                            properties={"spark.driver.host": "10.0.0.1"}, defaults={})
    assert "spark.driver.host=10.0.0.1" not in out
    assert "spark.driver.host=127.0.0.1" in out


def test_split_spark_options() -> None:
    options, app = split_spark_options(["--class", "A", "-v", "app.jar", "--x", "1"])
    assert options == [["--class", "A"], ["-v"]]
    assert app == ["app.jar", "--x", "1"]


def test_java_to_string_forms() -> None:
    assert java_list(["a", "b c"]) == "[a, b c]"
    assert java_list([]) == "[]"
    assert java_map({"k1": "v1", "k2": "v2"}) == "{k1=v1, k2=v2}"
    assert java_map({}) == "{}"
