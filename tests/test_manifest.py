"""plugin.json stays in step with the package and the settings model."""

from __future__ import annotations

import json
from pathlib import Path

import trakt_plugin
from trakt_plugin.config import Settings, setting_paths
from trakt_plugin.manifest import manifest

PLUGIN_JSON = Path(__file__).resolve().parents[1] / "plugin.json"


def test_plugin_json_version_and_schema_match_the_package() -> None:
    document = json.loads(PLUGIN_JSON.read_text())
    assert document["version"] == trakt_plugin.__version__
    assert document["config"]["schema"] == Settings.model_json_schema()
    assert document == manifest(), "regenerate: python -m trakt_plugin.manifest > plugin.json"


def test_schema_names_every_setting() -> None:
    schema = json.loads(PLUGIN_JSON.read_text())["config"]["schema"]
    definitions = schema["$defs"]
    for path in setting_paths():
        head, _, leaf = path.partition(".")
        assert head in schema["properties"], path
        if leaf:
            ref = schema["properties"][head]["$ref"].rsplit("/", 1)[-1]
            assert leaf in definitions[ref]["properties"], path
    assert set(document_keys(schema)) >= {"webhook_token", "scrobble_threshold"}


def document_keys(schema: dict[str, object]) -> list[str]:
    properties = schema["properties"]
    assert isinstance(properties, dict)
    return list(properties)
