"""One loader for every configuration file; the models stay pure, their hashes follow content."""

from __future__ import annotations

import ast
import tomllib
from collections.abc import Callable
from decimal import Decimal
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

import creditgraph
from creditgraph import configfile
from creditgraph.canonical import sha256_of
from creditgraph.configmodel import ConfigDecimal, FrozenConfig, describe
from creditgraph.decision.config_files import load_catalogue, load_config, load_policy
from creditgraph.servicing.config_file import load_servicing_config

LOADERS: dict[str, Callable[[], Any]] = {
    "products.toml": load_catalogue,
    "policy.toml": load_policy,
    "config.toml": load_config,
    "servicing.toml": load_servicing_config,
}

PURE_MODELS = (
    "configmodel.py",
    "decision/config.py",
    "decision/rules.py",
    "decision/products.py",
    "servicing/config.py",
)
FILE_IO = (
    "pathlib",
    "tomllib",
    "importlib",
    "creditgraph.configfile",
    "creditgraph.decision.config_files",
)


class _Section(FrozenConfig):
    rate: ConfigDecimal
    days: int = 1


class _Refused(ValueError):
    pass


@pytest.mark.parametrize("name", sorted(LOADERS))
def test_a_packaged_default_is_hashed_from_its_parsed_content(name: str) -> None:
    text = resources.files("creditgraph.decision").joinpath("catalogue").joinpath(name)
    assert LOADERS[name]().hash == sha256_of(tomllib.loads(text.read_text(encoding="utf-8")))


def test_an_operator_file_is_read_instead_of_the_packaged_default(tmp_path: Path) -> None:
    path = tmp_path / "mine.toml"
    path.write_text('version = "mine"\n[section]\nrate = "0.10"\n', encoding="utf-8")
    loaded = configfile.load(path, "config.toml", lambda data: data, _Refused)
    assert loaded == {"version": "mine", "section": {"rate": "0.10"}}


def test_a_missing_or_broken_file_raises_the_callers_error_naming_the_file(
    tmp_path: Path,
) -> None:
    with pytest.raises(_Refused, match=r"cannot read .*absent\.toml"):
        configfile.load(tmp_path / "absent.toml", "config.toml", dict, _Refused)
    broken = tmp_path / "broken.toml"
    broken.write_text("version = \n", encoding="utf-8")
    with pytest.raises(_Refused, match=r"broken\.toml is not valid TOML"):
        configfile.load(broken, "config.toml", dict, _Refused)
    with pytest.raises(_Refused, match=r"cannot read nothing\.toml"):
        configfile.load(None, "nothing.toml", dict, _Refused)


def test_the_shared_base_is_frozen_refuses_unknown_keys_and_float_money() -> None:
    section = _Section.model_validate({"rate": "0.1"})
    assert section.rate == Decimal("0.1")
    with pytest.raises(ValidationError):
        section.days = 2  # type: ignore[misc]
    with pytest.raises(ValidationError) as unknown:
        _Section.model_validate({"rate": "0.1", "dayz": 2})
    assert describe(unknown.value) == "dayz: Extra inputs are not permitted"
    with pytest.raises(ValidationError) as floating:
        _Section.model_validate({"rate": 0.1})
    assert "rate: Value error, write 0.1 as a quoted decimal string" in describe(floating.value)


@pytest.mark.parametrize("module", PURE_MODELS)
def test_configuration_models_import_no_file_io(module: str) -> None:
    source = Path(creditgraph.__file__).parent.joinpath(module).read_text(encoding="utf-8")
    imported: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            imported |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            imported.add(node.module)
            imported |= {f"{node.module}.{alias.name}" for alias in node.names}
    assert not {
        name
        for name in imported
        for banned in FILE_IO
        if name == banned or name.startswith(f"{banned}.")
    }
