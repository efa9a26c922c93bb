"""Reading compliance packs: an operator's TOML file, or a packaged pack by jurisdiction name."""

from __future__ import annotations

import re
from importlib import resources
from pathlib import Path

from creditgraph import configfile
from creditgraph.compliance.pack import CompliancePack, PackError, parse_pack

DEFAULT_PACK = "cn"
_NAME = re.compile(r"^[a-z]{2}[a-z0-9_-]{0,20}$")


def packaged_packs() -> list[str]:
    """The names of the packs shipped with the product (``packs/<name>.toml``)."""
    folder = resources.files("creditgraph.compliance").joinpath("packs")
    return sorted(
        entry.name.removesuffix(".toml")
        for entry in folder.iterdir()
        if entry.name.endswith(".toml")
    )


def load_pack(pack: str = DEFAULT_PACK, path: Path | None = None) -> CompliancePack:
    """The pack in the file at ``path``, or the packaged pack named ``pack`` (e.g. ``cn``)."""
    if path is not None:
        return configfile.load(path, path.name, parse_pack, PackError)
    if not _NAME.match(pack) or pack not in packaged_packs():
        raise PackError(
            f"pack: unknown compliance pack {pack!r}; packaged packs: {', '.join(packaged_packs())}"
        )
    folder = resources.files("creditgraph.compliance").joinpath("packs")
    with resources.as_file(folder.joinpath(f"{pack}.toml")) as packaged:
        return configfile.load(packaged, packaged.name, parse_pack, PackError)
