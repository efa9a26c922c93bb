"""Product catalogue and policy files: the packaged defaults load, bad content is named."""

from __future__ import annotations

import copy
import tomllib
from decimal import Decimal
from importlib import resources
from typing import Any

import pytest

from creditgraph.decision.config import parse_config
from creditgraph.decision.config_files import load_catalogue, load_config, load_policy
from creditgraph.decision.errors import CatalogueError, PolicyError
from creditgraph.decision.products import parse_catalogue
from creditgraph.decision.rules import parse_policy
from creditgraph.servicing import Method


def _packaged(name: str) -> dict[str, Any]:
    text = resources.files("creditgraph.decision").joinpath("catalogue").joinpath(name)
    return tomllib.loads(text.read_text(encoding="utf-8"))


def test_default_catalogue_has_the_required_products() -> None:
    catalogue = load_catalogue()
    assert {"JYD", "CYD", "XFD-EDU", "XFD-TRV", "XFD-MED", "XFD-GEN", "GXD", "NHD"} <= set(
        catalogue.codes
    )
    farmer = catalogue.get("NHD")
    assert farmer is not None
    assert Method.INTEREST_FIRST in farmer.schedule_types
    assert farmer.name.zh == "农户贷"
    assert len(catalogue.hash) == 64


def test_hash_follows_content_not_formatting() -> None:
    data = _packaged("products.toml")
    assert parse_catalogue(copy.deepcopy(data)).hash == load_catalogue().hash
    data["products"][0]["rate"]["max"] = "0.1700"
    assert parse_catalogue(data).hash != load_catalogue().hash


@pytest.mark.parametrize(
    ("path", "value", "expected"),
    [
        (("amount", "min"), "300000", "product 'JYD' (#1): amount: Value error, min 300000"),
        (("amount", "max"), 200000.5, "amount.max"),
        (("rate", "max"), "1.5", "rate.max"),
        (("segments",), ["martians"], "segments ['martians'] are not in the data contract"),
        (("purposes",), ["yacht"], "purposes ['yacht']"),
        (("schedule_types",), ["balloon"], "schedule_types.0"),
        (("terms",), [12, 12], "terms must be distinct"),
        (("surprise",), 1, "surprise: Extra inputs are not permitted"),
    ],
)
def test_bad_product_is_named_with_its_field(
    path: tuple[str, ...], value: object, expected: str
) -> None:
    data = _packaged("products.toml")
    target = data["products"][0]
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    with pytest.raises(CatalogueError) as info:
        parse_catalogue(data)
    assert "product 'JYD' (#1)" in str(info.value)
    assert expected in str(info.value)


def test_duplicate_codes_and_missing_version() -> None:
    data = _packaged("products.toml")
    data["products"].append(copy.deepcopy(data["products"][0]))
    with pytest.raises(CatalogueError, match="duplicate product codes"):
        parse_catalogue(data)
    del data["version"]
    with pytest.raises(CatalogueError, match="version"):
        parse_catalogue(data)


def test_policy_and_config_load_and_name_errors() -> None:
    policy = load_policy()
    assert policy.version and len(policy.hash) == 64
    assert [r.id for r in policy.rules][:3] == ["KO-AGE", "KO-AGE-MISSING", "KO-CONSENT"]
    assert load_config().pricing.rate_cap == Decimal("0.24")

    data = _packaged("policy.toml")
    data["rules"][0]["when"][0]["op"] = "lt"
    data["rules"][0]["when"][0]["value"] = "eighteen"
    with pytest.raises(PolicyError, match=r"rule 'KO-AGE' \(#1\): when.0"):
        parse_policy(data)
    data = _packaged("policy.toml")
    data["rules"][1]["id"] = "KO-AGE"
    with pytest.raises(PolicyError, match="duplicate rule ids"):
        parse_policy(data)

    config = _packaged("config.toml")
    config["limits"]["pd_bands"][0]["max_pd"] = 0.02
    with pytest.raises(PolicyError, match=r"limits\.pd_bands\.0\.max_pd"):
        parse_config(config)


def test_lpr_licence_cap() -> None:
    config = _packaged("config.toml")
    config["pricing"]["licence"] = "lpr_multiple"
    config["pricing"]["lpr_1y"] = "0.0310"
    assert str(parse_config(config).pricing.rate_cap) == "0.1240"
