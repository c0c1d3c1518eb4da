"""KEY=VALUE options, as `compile --gpu-node-selector`, `submit --param` and `kfp-local` take them."""

from __future__ import annotations

import json
from typing import Any, Dict, Iterable


def key_values(pairs: Iterable[str], what: str) -> Dict[str, str]:
    """['KEY=VALUE', ...] from the command line; WHAT names them in the error."""
    parsed = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ValueError(f"{what} {pair!r} is not KEY=VALUE")
        parsed[key] = value
    return parsed


def run_parameters(pairs: Iterable[str]) -> Dict[str, Any]:
    """Run parameters: a VALUE that parses as JSON is taken as that (0.9, 3), else as text."""
    parameters: Dict[str, Any] = {}
    for name, value in key_values(pairs, "parameter").items():
        try:
            parameters[name] = json.loads(value)
        except json.JSONDecodeError:
            parameters[name] = value
    return parameters
