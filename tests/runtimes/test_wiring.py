"""The wiring loader: Terraform's view of every function, and the evaluator under it."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from shared.catalog import default_catalog
from tests.runtimes import wiring
from tests.runtimes.hcl_eval import PartialMap, Scope, Unknown, evaluate, parse

ROOT_VARIABLES = {
    "aws": {},
    "gcp": {"project_id": "p", "region": "europe-west1", "mail_from": "o@x.test"},
    "azure": {"subscription_id": "00000000-0000-0000-0000-000000000000", "mail_from": "o@x.test"},
}


def value(text: str, **names: object) -> object:
    return evaluate(parse(text), Scope(names, Path(".")))


def test_expressions_evaluate_like_terraform() -> None:
    assert value('"${a}-${b}"', a="x", b=1) == "x-1"
    assert value("{for k, v in m : k => v.n if v.n > 1}", m={"a": {"n": 1}, "b": {"n": 2}}) == {
        "b": 2
    }
    assert value("[for x in xs : upper(x)]", xs=["a"]) == ["A"]
    assert value('c ? "y" : "n"', c=False) == "n"
    assert value('try(m.missing, "d")', m={}) == "d"
    assert value("min(43200, max(30, 6 * t + 1))", t=10) == 61


def test_what_only_apply_knows_stays_unknown_and_is_never_dropped() -> None:
    assert value("aws_s3_bucket.this.bucket") == Unknown("aws_s3_bucket.this.bucket")
    # A condition that cannot be decided makes the whole collection unknown, not empty.
    assert isinstance(value("{for k, v in m : k => v if f(k)}", m={"a": 1}), Unknown)
    merged = value("merge({A = 1}, r.x, {B = r.y})")
    assert isinstance(merged, PartialMap) and merged["B"] == Unknown("r.y")
    assert merged.unknown_parts == ("r.x",)


@pytest.mark.parametrize("cloud", ["aws", "gcp", "azure"])
def test_every_catalog_function_is_wired_on_every_cloud(cloud: str) -> None:
    catalog = default_catalog()
    wirings = wiring.load(cloud, ROOT_VARIABLES[cloud])
    assert set(wirings) == {*catalog.consumers, *catalog.endpoints, *catalog.schedules}
    for function in wirings.values():
        assert function.python_version == "3.12", function
        assert function.handler
        role = {"consumer": "EVENTSUITE_CONSUMER", "http": "EVENTSUITE_ENDPOINT"}
        if cloud != "azure":  # one Azure app package serves every role by function name
            variable = role.get(function.kind, "EVENTSUITE_SCHEDULE")
            assert function.environment[variable] == function.name


def test_memory_and_timeout_are_the_catalog_settings() -> None:
    catalog = default_catalog()
    for cloud in ("aws", "gcp"):
        for name, function in wiring.load(cloud, ROOT_VARIABLES[cloud]).items():
            spec = (
                catalog.consumers.get(name)
                or catalog.endpoints.get(name)
                or catalog.schedules[name]
            )
            assert (function.memory_mb, function.timeout_seconds) == (
                spec.memory_mb,
                spec.timeout_seconds,
            ), f"{cloud}/{name}"


def test_a_handler_renamed_in_terraform_shows_in_the_wiring(tmp_path: Path) -> None:
    copy = tmp_path / "terraform"
    shutil.copytree(wiring.TERRAFORM, copy, ignore=shutil.ignore_patterns(".terraform", "tools"))
    shutil.copytree(wiring.REPO / "shared" / "catalog", tmp_path / "shared" / "catalog")
    locals_tf = copy / "modules" / "aws-suite" / "locals.tf"
    text = locals_tf.read_text(encoding="utf-8")
    locals_tf.write_text(text.replace("entrypoint.handle_http", "entrypoint.handle_htp"), "utf-8")
    wirings = wiring.load("aws", {}, copy)
    assert wirings["orders_api"].handler == "functions.aws.entrypoint.handle_htp"
