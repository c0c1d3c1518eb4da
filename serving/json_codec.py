"""TF Serving's JSON predict format: {"instances": [...]} -> {"predictions": [...]} (row form) and
{"inputs": ...} -> {"outputs": ...} (columnar); strings may be sent as {"b64": "..."}. The errors'
messages follow TF Serving's (tensorflow_serving/util/json_tensor.cc), so clients see the same text."""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any, Dict, Tuple

import numpy as np
import orjson
import tensorflow as tf

from serving import errors, limits
from serving.model_store import TensorSpec

ROW, COLUMNAR = "row", "columnar"


def parse_body(body: bytes) -> dict:
    """The request's JSON object. orjson parses what is valid (a fifth of the standard parser's
    time); what it refuses goes through the standard parser, which gives TF Serving's error
    messages and accepts what JSON allows and orjson does not (escaped lone surrogates)."""
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError:
        doc = _parse_strictly(body)
    if not isinstance(doc, dict):
        raise errors.invalid_argument(f"JSON Value: {_show(doc)} Is not object")
    return doc


encode = orjson.dumps  # a response body


def _parse_strictly(body: bytes):
    if not body:
        raise errors.invalid_argument("JSON Parse error: The document is empty")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as error:
        raise errors.invalid_argument(
            f"JSON Parse error: Invalid encoding in string. at offset: {error.start}") from error
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise errors.invalid_argument(f"JSON Parse error: {error.msg} at offset: {error.pos}") from error
    except RecursionError:
        raise errors.invalid_argument("JSON Parse error: The document is nested too deeply") from None
    except ValueError as error:  # e.g. an integer of more digits than Python converts
        raise errors.invalid_argument(f"JSON Parse error: {error}") from None


def signature_name(doc: dict) -> str:
    name = doc.get("signature_name", "")
    if not isinstance(name, str):
        raise errors.invalid_argument(
            f"JSON Value: {_show(doc)} not formatted correctly. 'signature_name' key must be a string value.")
    return name


def request_inputs(doc: dict, specs: Dict[str, TensorSpec]) -> Tuple[Dict[str, np.ndarray], str]:
    """The signature's inputs from a predict request, and which form the request used."""
    if "instances" in doc:
        if "inputs" in doc:
            raise errors.invalid_argument(
                f"JSON Value: {_show(doc)} Not formatted correctly expecting only one of 'inputs' or "
                "'instances' keys to exist ")
        instances = doc["instances"]
        if not isinstance(instances, list):
            raise errors.invalid_argument(f"JSON Value: {_show(doc)} Excepting 'instances' to be an list/array")
        if not instances:
            raise errors.invalid_argument(f"JSON Value: {_show(doc)} No values in 'instances' array")
        return _from_instances(instances, specs), ROW
    if "inputs" in doc:
        return _from_inputs(doc["inputs"], specs), COLUMNAR
    raise errors.invalid_argument("Missing 'inputs' or 'instances' key")


def _is_b64(value) -> bool:
    return isinstance(value, dict) and len(value) == 1 and isinstance(value.get("b64"), str)


def _from_instances(instances: list, specs: Dict[str, TensorSpec]) -> Dict[str, np.ndarray]:
    objects = isinstance(instances[0], dict) and not _is_b64(instances[0])
    if not objects and len(specs) > 1:
        raise errors.invalid_argument("instances is a plain list, but expecting list of objects as multiple "
                                      "input tensors required as per tensorinfo_map")
    columns: Dict[str, list] = {name: [] for name in specs}
    for i, item in enumerate(instances):
        if objects != (isinstance(item, dict) and not _is_b64(item)):
            expected, got = ("object", "list") if objects else ("value/list", "object")
            raise errors.invalid_argument(f"Expecting {expected} but got {got} at item {i} of input list")
        if objects:
            if set(item) != set(specs):
                unknown = sorted(set(item) - set(specs))
                if unknown:
                    raise errors.invalid_argument(
                        f"Failed to process element: {i} key: {unknown[0]} of 'instances' list. Error: "
                        f"INVALID_ARGUMENT: JSON object: does not have named input: {unknown[0]}")
                raise errors.invalid_argument(
                    f"Failed to process element: {i} of 'instances' list. JSON object: {_show(item)} "
                    f"keys must be equal to: {','.join(sorted(specs))}")
            for name, value in item.items():
                columns[name].append(value)
        else:
            columns[next(iter(specs))].append(item)
    return {name: _array(values, specs[name]) for name, values in columns.items()}


def _from_inputs(value: Any, specs: Dict[str, TensorSpec]) -> Dict[str, np.ndarray]:
    if not isinstance(value, dict) or _is_b64(value):
        if len(specs) > 1:
            raise errors.invalid_argument("inputs is a plain value/list, but expecting an object as multiple "
                                          "input tensors required as per tensorinfo_map")
        name = next(iter(specs))
        return {name: _array(value, specs[name])}
    arrays = {}
    for name, spec in specs.items():
        if name not in value:
            raise errors.invalid_argument(f"Missing named input: {name} in 'inputs' object.")
        arrays[name] = _array(value[name], spec)
    return arrays


def _array(value: Any, spec: TensorSpec) -> np.ndarray:
    """A JSON value to an array of the spec's type, checking its rank and every leaf's type."""
    shape = _shape(value)
    if len(shape) > limits.MAX_RANK:
        raise errors.invalid_argument(f"Input {spec.name} is nested {len(shape)} lists deep; "
                                      f"at most {limits.MAX_RANK} are taken")
    leaves = _leaves(value, shape, 0)
    if spec.dtype == tf.string:
        array = np.array([_string(leaf, spec) for leaf in leaves], dtype=object).reshape(shape)
    else:
        for leaf in leaves:
            if isinstance(leaf, bool) != (spec.dtype == tf.bool) or not isinstance(leaf, (int, float)):
                raise _type_error(leaf, spec)
        array = np.array(leaves, dtype=spec.dtype.as_numpy_dtype).reshape(shape)
    if spec.shape and len(shape) != len(spec.shape):
        raise errors.invalid_argument(
            f"Input {spec.name} must have rank {len(spec.shape)} (shape {list(spec.shape)}), "
            f"got rank {len(shape)} (shape {list(shape)})")
    if array.size == 0:
        raise errors.invalid_argument(f"Input {spec.name} has no values (shape {list(shape)})")
    return array


def _string(leaf, spec: TensorSpec) -> bytes:
    if isinstance(leaf, str):
        return leaf.encode("utf-8", errors="surrogatepass")
    if _is_b64(leaf):
        try:
            return base64.b64decode(leaf["b64"], validate=True)
        except (binascii.Error, ValueError) as error:
            raise errors.invalid_argument("Unable to base64 decode") from error
    if isinstance(leaf, dict):
        raise errors.invalid_argument(f"JSON Value: {_show(leaf)} not formatted correctly for base64 data")
    raise _type_error(leaf, spec)


def _type_error(leaf, spec: TensorSpec) -> errors.ServingError:
    kinds = {type(None): "Null", bool: "True" if leaf is True else "False", dict: "Object", list: "Array",
             str: "String", int: "Number", float: "Number"}
    return errors.invalid_argument(
        f"JSON Value: {_show(leaf)} Type: {kinds.get(type(leaf), 'Unknown')} is not of expected type: "
        f"{spec.dtype.name}")


def _shape(value) -> tuple:
    shape = []
    while isinstance(value, list):
        shape.append(len(value))
        if not value:
            break
        value = value[0]
    return tuple(shape)


def _leaves(value, shape: tuple, level: int) -> list:
    if not isinstance(value, list):
        if level != len(shape):
            raise errors.invalid_argument(
                f"JSON Value: {_show(value)} found at incorrect level: {level + 1} in the JSON DOM. "
                f"Expected at level: {len(shape)}")
        return [value]
    if level >= len(shape):
        raise errors.invalid_argument(f"Encountered list at unexpected level: {level} expected < {len(shape)}")
    if len(value) != shape[level]:
        raise errors.invalid_argument(
            f"Encountered list at unexpected size: {len(value)} at level: {level} expected size: {shape[level]}")
    return [leaf for item in value for leaf in _leaves(item, shape, level + 1)]


def response(outputs: Dict[str, np.ndarray], form: str) -> dict:
    """TF Serving's response body: one output is unnamed, several are named."""
    values = {k: _jsonable(v) for k, v in outputs.items()}
    if form == COLUMNAR:
        return {"outputs": next(iter(values.values())) if len(values) == 1 else values}
    if len(values) == 1:
        return {"predictions": next(iter(values.values()))}
    rows = len(next(iter(outputs.values())))
    return {"predictions": [{k: v[i] for k, v in values.items()} for i in range(rows)]}


def _jsonable(array: np.ndarray):
    if array.dtype == object:
        return np.vectorize(lambda b: {"b64": base64.b64encode(b).decode()} if isinstance(b, bytes) else b,
                            otypes=[object])(array).tolist()
    return array.tolist()


def _show(value, limit: int = 200) -> str:
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return text if len(text) <= limit else text[:limit] + "..."
