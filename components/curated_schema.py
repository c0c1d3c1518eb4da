"""ImportSchemaGen for the curated schema, keyed by the file's content as well as its path.

TFX's ImportSchemaGen is cached on the schema file's path only, so an edited schema would be
served from the cache; the content's hash (pipeline/fingerprints.py) is part of its key here.
"""

from __future__ import annotations

from tfx import types
from tfx.components.schema_gen.import_schema_gen import component as import_schema_gen
from tfx.dsl.components.base import base_component
from tfx.types import standard_artifacts, standard_component_specs

from components import code_version


class CuratedSchemaGenSpec(standard_component_specs.ImportSchemaGenSpec):
    PARAMETERS = {**standard_component_specs.ImportSchemaGenSpec.PARAMETERS,
                  code_version.CODE_FINGERPRINT_KEY: code_version.parameter()}


class CuratedSchemaGen(import_schema_gen.ImportSchemaGen):
    SPEC_CLASS = CuratedSchemaGenSpec

    def __init__(self, schema_file: str, code_fingerprint: str = ""):
        base_component.BaseComponent.__init__(self, spec=CuratedSchemaGenSpec(
            schema_file=schema_file, code_fingerprint=code_fingerprint,
            schema=types.Channel(type=standard_artifacts.Schema)))
