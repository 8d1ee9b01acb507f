"""The import-layer contract in setup.cfg covers the whole package."""

from __future__ import annotations

import configparser
import pkgutil
import re
from pathlib import Path

import ailib

SETUP_CFG = Path(__file__).resolve().parents[2] / "setup.cfg"


def _layer_modules() -> set[str]:
    cfg = configparser.ConfigParser()
    cfg.read(SETUP_CFG)
    layers = cfg["importlinter:contract:layers"]["layers"]
    return {name for name in re.split(r"[\s:|]+", layers) if name}


def test_every_top_level_module_sits_in_a_layer():
    """Each module and subpackage directly under ailib is named in a layer, so lint-imports checks it."""
    modules = {f"ailib.{m.name}" for m in pkgutil.iter_modules(ailib.__path__)}
    assert modules - _layer_modules() == set()


def test_layers_name_only_existing_modules():
    """The contract names no module that does not exist (a stale name would check nothing)."""
    modules = {f"ailib.{m.name}" for m in pkgutil.iter_modules(ailib.__path__)}
    assert _layer_modules() - modules == set()
