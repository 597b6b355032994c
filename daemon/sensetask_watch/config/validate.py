"""Structural validation: the schema's verdicts, as sentences a person can act on.

jsonschema finds the problems; this module turns each into a problem
``(key_path, message)``, where key_path is a tuple such as ("folders", 0, "inbox")
and the message names the thing and the fix. ``load`` formats the key path.

Only APIs present in jsonschema 4.10 (Debian 12) are used.
"""

import difflib
import math

from jsonschema import Draft7Validator

from .schema import SCHEMA

_VALIDATOR = Draft7Validator(SCHEMA)

_EXPECTED = {
    "string": "text",
    "number": "a number",
    "integer": "a whole number",
    "boolean": "true or false",
    "array": "a list",
    "object": "a mapping of settings",
    "null": "nothing",
}


def schema_problems(data):
    """Every problem jsonschema finds in ``data``, translated, without duplicates."""
    problems = []
    for error in _VALIDATOR.iter_errors(data):
        for problem in _translate(error):
            if problem not in problems:
                problems.append(problem)
    problems.extend(_non_finite_numbers(data, ()))
    return problems


def _translate(error):
    path = tuple(error.absolute_path)
    kind = error.validator
    expected = error.validator_value
    value = error.instance

    if kind == "additionalProperties":
        allowed = sorted(error.schema.get("properties", {}))
        for key in value:
            if key not in allowed:
                yield path + (key,), _unknown_key(key, allowed)
    elif kind == "required":
        # jsonschema 4.10 reports one error per missing key but does not say
        # which; the duplicates are dropped by the caller.
        for key in expected:
            if key not in value:
                yield path + (
                    key,
                ), f"required key {key!r} is missing; add it ({_about(error, key)})"
    elif kind == "type":
        yield path, _wrong_type(expected, value, error.schema.get("x-type-hint"))
    elif kind == "enum":
        allowed = ", ".join(str(choice) for choice in expected)
        yield path, f"{_show(value)} is not a valid choice; use one of: {allowed}"
    elif kind == "minimum":
        yield path, f"{_show(value)} is too small; use {expected} or more"
    elif kind == "exclusiveMinimum":
        yield path, f"{_show(value)} is too small; use a number greater than {expected}"
    elif kind == "maximum":
        yield path, f"{_show(value)} is too large; use {expected} or less"
    elif kind == "exclusiveMaximum":
        yield path, f"{_show(value)} is too large; use a number less than {expected}"
    elif kind == "minItems":
        entries = "one entry" if expected == 1 else f"{expected} entries"
        yield path, f"the list is empty; add at least {entries}"
    elif kind == "minLength":
        yield path, "the value is empty; fill it in"
    elif kind == "pattern":
        hint = error.schema.get("x-pattern-hint", f"make it match the pattern {expected}")
        yield path, f"{_show(value)} is not valid here; {hint}"
    elif kind == "format":
        yield path, f"{_show(value)} is not a valid {expected}; correct it"
    else:
        yield path, f"{error.message}; correct the value"


def _about(error, key):
    description = error.schema["properties"][key].get("description", key)
    return description[:1].lower() + description[1:].rstrip(".")


def _unknown_key(key, allowed):
    close = difflib.get_close_matches(str(key), allowed, n=1)
    fix = f"did you mean {close[0]!r}?" if close else "remove it or correct the spelling"
    return f"unknown key {key!r}; {fix} (allowed here: {', '.join(allowed)})"


def _wrong_type(expected, value, hint=None):
    """The message for a value of the wrong type; ``hint`` (the schema's x-type-hint) is the fix."""
    names = [expected] if isinstance(expected, str) else list(expected)
    wanted = " or ".join(_EXPECTED.get(name, name) for name in names)
    if value is None:
        fix = "fill in a value or remove the key"
    elif hint:
        fix = hint
    elif "string" in names and isinstance(value, (int, float)):
        fix = "put the value in quotes"
    elif "object" in names:
        fix = "write the settings indented below the key, as 'name: value' lines"
    elif "array" in names:
        fix = "write one '- item' line per entry, indented below the key"
    else:
        fix = f"write {wanted} instead"
    return f"expected {wanted} but found {_describe(value)}; {fix}"


def _describe(value):
    if value is None:
        return "an empty value"
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()}"
    if isinstance(value, (int, float)):
        return f"the number {value}"
    if isinstance(value, str):
        return f"the text {_show(value)}"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return f"a {type(value).__name__} ({_show(value)})"


def _show(value, limit=60):
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _non_finite_numbers(value, path):
    """YAML accepts .nan and .inf, which pass every range check; refuse them."""
    if isinstance(value, float) and not math.isfinite(value):
        yield path, f"{value} is not a usable number; write a finite number"
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _non_finite_numbers(item, path + (key,))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _non_finite_numbers(item, path + (index,))
