"""Task forms: form-js schemas, checked when a diagram is deployed and used to validate what
a user submits (marshmallow) before anything reaches the workflow."""
from __future__ import annotations

import re
from datetime import date, datetime
from typing import Any

from marshmallow import RAISE, Schema, ValidationError, fields, validate, validates_schema

from .sandbox.patterns import PatternRefused, compile_pattern

INPUT_TYPES = {"textfield", "textarea", "number", "checkbox", "radio", "select", "checklist", "datetime",
               "filepicker", "taglist"}
LAYOUT_TYPES = {"text", "separator", "spacer", "group", "html"}


class FormError(ValueError):
    """A form schema Duban cannot use; `problems` lists what is wrong, each naming the field."""

    def __init__(self, problems: list[str]):
        super().__init__("; ".join(problems))
        self.problems = problems


def inputs(schema: dict) -> list[dict]:
    """The input components of a form, groups flattened."""
    found = []
    for component in schema.get("components", []):
        if component.get("type") == "group":
            found.extend(inputs(component))
        elif component.get("type") in INPUT_TYPES:
            found.append(component)
    return found


def check_form(schema: Any) -> None:
    """Raise FormError listing everything wrong with a form-js schema."""
    if not isinstance(schema, dict) or not isinstance(schema.get("components"), list):
        raise FormError(["a form is a JSON object with a list of components"])
    problems, keys = [], set()
    _check_components(schema["components"], problems, keys)
    if problems:
        raise FormError(problems)


def _check_components(components: list, problems: list[str], keys: set[str]) -> None:
    for index, component in enumerate(components):
        kind = component.get("type") if isinstance(component, dict) else None
        where = f"component {index + 1}" + (f" ({component.get('key')})" if isinstance(component, dict) and component.get("key") else "")
        if kind in LAYOUT_TYPES:
            if kind == "group":
                _check_components(component.get("components", []), problems, keys)
            continue
        if kind not in INPUT_TYPES:
            problems.append(f"{where}: unsupported component type {kind!r}")
            continue
        key = component.get("key")
        if not isinstance(key, str) or not re.match(r"^[A-Za-z][A-Za-z0-9_]*$", key):
            problems.append(f"{where}: key must be a name of letters, digits and _ starting with a letter")
            continue
        if key in keys:
            problems.append(f"{where}: key {key!r} is used twice")
        keys.add(key)
        if kind in {"radio", "select", "checklist", "taglist"}:
            values, values_key = component.get("values"), component.get("valuesKey")
            if values_key is not None:
                if not isinstance(values_key, str) or not re.match(r"^[A-Za-z][A-Za-z0-9_]*$", values_key):
                    problems.append(f"{where}: valuesKey must name a field of the process data")
            elif not values or not all(isinstance(v, dict) and "value" in v for v in values):
                problems.append(f"{where}: {kind} needs a list of values {{label, value}} or a valuesKey")
        pattern = (component.get("validate") or {}).get("pattern")
        if pattern:
            try:
                compile_pattern(pattern)
            except PatternRefused as error:
                problems.append(f"{where}: pattern {pattern!r} is refused: {error}")
    for component in components:
        rule = ((component or {}).get("properties") or {}).get("requiredWhen") if isinstance(component, dict) else None
        if rule and not re.match(r"^[A-Za-z][A-Za-z0-9_]*\s*=\s*\S+$", rule):
            problems.append(f"{component.get('key')}: requiredWhen must read field=value")


class _Pattern(validate.Validator):
    """A form field's pattern, matched by RE2 (linear time: no answer can make it backtrack)."""

    def __init__(self, pattern: str):
        self.pattern = pattern

    def __call__(self, value):
        try:
            matched = compile_pattern(self.pattern).match(value) is not None
        except PatternRefused as error:  # a version deployed before patterns were checked
            raise ValidationError(f"The form's pattern cannot be checked: {error}") from None
        if not matched:
            raise ValidationError("Does not match the required pattern.")
        return value


def _options(component: dict, context: dict) -> list:
    """The allowed values: listed in the form, or (valuesKey) taken from the process data."""
    if component.get("valuesKey"):
        found = context.get(component["valuesKey"]) or []
        return [v["value"] if isinstance(v, dict) else v for v in found]
    return [v["value"] for v in component["values"]]


def _field_for(component: dict, context: dict) -> fields.Field:
    kind = component["type"]
    rules = component.get("validate") or {}
    required = bool(rules.get("required"))
    options = {"required": required}
    if not required:
        options["allow_none"] = True
    checks = []
    if kind in {"textfield", "textarea"}:
        if rules.get("minLength") is not None or rules.get("maxLength") is not None:
            checks.append(validate.Length(min=rules.get("minLength"), max=rules.get("maxLength")))
        if required:
            checks.append(validate.Length(min=1, error="Missing data for required field."))
        if rules.get("pattern"):
            checks.append(_Pattern(rules["pattern"]))
        return fields.String(validate=checks, **options)
    if kind == "number":
        if rules.get("min") is not None or rules.get("max") is not None:
            checks.append(validate.Range(min=rules.get("min"), max=rules.get("max")))
        return fields.Float(validate=checks, allow_nan=False, **options)
    if kind == "checkbox":
        if required:
            checks.append(validate.Equal(True, error="Must be checked."))
        # strict: "yes", "on" or 1 is not an answer to a checkbox
        return fields.Boolean(truthy={True}, falsy={False}, validate=checks, **options)
    if kind in {"radio", "select"}:
        return fields.Raw(validate=[validate.OneOf(_options(component, context))], **options)
    if kind in {"checklist", "taglist"}:
        checks = [validate.Length(min=1)] if required else []
        return fields.List(fields.Raw(validate=validate.OneOf(_options(component, context))), validate=checks,
                           **options)
    if kind == "datetime":
        if component.get("subtype", "date") == "date":
            return fields.Date(**options)
        return fields.AwareDateTime(**options)
    if kind == "filepicker":
        checks = [validate.Length(min=1, error="Attach at least one file.")] if required else []
        return fields.List(fields.Integer(strict=True), validate=checks, **options)
    raise FormError([f"unsupported component type {kind!r}"])


def schema_for(form: dict | None, context: dict | None = None) -> Schema:
    """A marshmallow schema that validates data submitted on this form; `context` is the
    process data that valuesKey options come from."""
    components = inputs(form or {"components": []})
    declared = {c["key"]: _field_for(c, context or {}) for c in components}
    conditions = [(c["key"], c["properties"]["requiredWhen"]) for c in components
                  if (c.get("properties") or {}).get("requiredWhen")]

    class _Conditional(Schema):
        class Meta:
            unknown = RAISE

        @validates_schema
        def _required_when(self, data, **kwargs):
            errors = {}
            for key, rule in conditions:
                other, expected = (part.strip() for part in rule.split("=", 1))
                if str(data.get(other)) == expected and data.get(key) in (None, "", []):
                    errors[key] = [f"Required when {other} is {expected}."]
            if errors:
                raise ValidationError(errors)

    return _Conditional.from_dict(declared, name="TaskForm")()


def validate_submission(form: dict | None, data: Any, context: dict | None = None) -> dict:
    """The submitted data, checked and in JSON form; ValidationError names each bad field."""
    if not isinstance(data, dict):
        raise ValidationError({"data": ["Must be an object of field values."]})
    loaded = schema_for(form, context).load(data)
    clean = {key: _json_value(value) for key, value in loaded.items()}
    for component in inputs(form or {}):  # every field has a value, so conditions can name it
        clean.setdefault(component["key"], _EMPTY.get(component["type"]))
    return clean


_EMPTY = {"checkbox": False, "checklist": [], "taglist": [], "filepicker": []}


def _json_value(value: Any) -> Any:
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    return value


def context_keys(form: dict | None) -> list[str]:
    """The process-data keys a form's dynamic options (valuesKey) read."""
    return [c["valuesKey"] for c in inputs(form or {}) if c.get("valuesKey")]


def evidence_keys(form: dict | None) -> list[str]:
    return [c["key"] for c in inputs(form or {}) if c["type"] == "filepicker"]


_JSON_TYPES = {"string": "textfield", "number": "number", "integer": "number", "boolean": "checkbox"}


def from_json_schema(schema: Any) -> dict:
    """A SpiffArena-style JSON Schema form (`formJsonSchemaFilename`) as a form-js schema, so
    that one form format serves validation and the browser."""
    if not isinstance(schema, dict) or schema.get("type") != "object" or not isinstance(schema.get("properties"), dict):
        raise FormError(["a JSON Schema form is an object schema with properties"])
    required, components, problems = set(schema.get("required") or []), [], []
    for key, prop in schema["properties"].items():
        prop = prop if isinstance(prop, dict) else {}
        label = prop.get("title") or key
        if "enum" in prop:
            component = {"type": "select", "values": [{"label": str(v), "value": v} for v in prop["enum"]]}
        elif prop.get("type") == "string" and prop.get("format") == "date":
            component = {"type": "datetime", "subtype": "date"}
        elif prop.get("type") in _JSON_TYPES:
            component = {"type": _JSON_TYPES[prop["type"]]}
        else:
            problems.append(f"{key}: JSON Schema type {prop.get('type')!r} is not supported in a form")
            continue
        rules = {}
        if key in required and component["type"] != "checkbox":  # a boolean always has an answer
            rules["required"] = True
        for source, target in (("minLength", "minLength"), ("maxLength", "maxLength"), ("pattern", "pattern"),
                               ("minimum", "min"), ("maximum", "max")):
            if source in prop:
                rules[target] = prop[source]
        components.append({"key": key, "label": label, **component, **({"validate": rules} if rules else {})})
    if problems:
        raise FormError(problems)
    form = {"type": "default", "id": schema.get("title") or "form", "components": components}
    check_form(form)
    return form
