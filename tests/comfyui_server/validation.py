"""`POST /prompt` validation, following ComfyUI 0.3.64's validate_prompt step by step.

The structure (and the odd corners: the upstream node that carries the error while the
output only lists it as dependent, exceptions turned into `exception_during_validation`,
cycles ending with no reasons at all) is kept because clients parse these 400 bodies.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .nodedefs import NodeDefs

CustomCheck = Callable[[Any], "bool | str"]
"""A node's VALIDATE_INPUTS for one input: True when fine, else the message."""

_EXEC = '  File "/srv/ComfyUI/execution.py", line {line}, in {func}\n    {code}\n'
_TB_VALIDATE_PROMPT = _EXEC.format(
    line=1010,
    func="validate_prompt",
    code="m = await validate_inputs(prompt_id, prompt, o, validated)\n"
    "        ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^",
)
_TB_INNER = _EXEC.format(
    line=835,
    func="validate_inputs",
    code="r = await validate_inputs(prompt_id, prompt, o_id, validated)\n"
    "        ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^",
)
_TB_LINKED_NODE = _EXEC.format(
    line=788,
    func="validate_inputs",
    code="o_class_type = prompt[o_id]['class_type']\n                   ~~~~~~^^^^^^",
)
_TB_RETURN_INDEX = _EXEC.format(
    line=790,
    func="validate_inputs",
    code="received_type = r[val[1]]\n                    ~^^^^^^^^",
)


def full_type_name(klass: type) -> str:
    module = klass.__module__
    return klass.__qualname__ if module == "builtins" else f"{module}.{klass.__qualname__}"


def _tag(ex: Exception, frame: str) -> Exception:
    """Remember the ComfyUI source frame an exception stands for (for the recorded traceback)."""
    frames = list(getattr(ex, "comfy_frames", []))
    ex.comfy_frames = [frame, *frames]  # type: ignore[attr-defined]
    return ex


def is_link(value: Any) -> bool:
    """ComfyUI's is_link: ["node_id", output_index]."""
    return (
        isinstance(value, list)
        and len(value) == 2
        and isinstance(value[0], str)
        and isinstance(value[1], int | float)
        and not isinstance(value[1], bool)
    )


def validate_node_input(received_type: Any, input_type: Any) -> bool:
    """ComfyUI's type check for a link (comma lists and "*" match loosely)."""
    if not received_type != input_type:
        return True
    if not isinstance(received_type, str) or not isinstance(input_type, str):
        return False
    if "*" in (received_type, input_type):
        return True
    received = {t.strip() for t in received_type.split(",")}
    wanted = {t.strip() for t in input_type.split(",")}
    return len(received & wanted) > 0


class Validator:
    """Validates one prompt against node definitions."""

    def __init__(self, defs: NodeDefs, custom: dict[str, dict[str, CustomCheck]]) -> None:
        self.defs = defs
        self.custom = custom

    def validate_prompt(
        self, prompt: Any, partial_execution_list: list[str] | None = None
    ) -> tuple[bool, dict[str, Any] | None, list[str], dict[str, Any]]:
        """(valid, error, good_outputs, node_errors); raises on a prompt that is not a dict."""
        outputs: list[str] = []
        for x in prompt:
            if "class_type" not in prompt[x]:
                error = {
                    "type": "invalid_prompt",
                    "message": "Cannot execute because a node is missing the class_type property.",
                    "details": f"Node ID '#{x}'",
                    "extra_info": {},
                }
                return False, error, [], {}
            class_type = prompt[x]["class_type"]
            if class_type not in self.defs:
                error = {
                    "type": "invalid_prompt",
                    "message": f"Cannot execute because node {class_type} does not exist.",
                    "details": f"Node ID '#{x}'",
                    "extra_info": {},
                }
                return False, error, [], {}
            if self.defs.is_output(class_type):
                if partial_execution_list is None or x in partial_execution_list:
                    outputs.append(x)

        if not outputs:
            error = {
                "type": "prompt_no_outputs",
                "message": "Prompt has no outputs",
                "details": "",
                "extra_info": {},
            }
            return False, error, [], {}

        good_outputs: list[str] = []
        errors: list[tuple[str, list[dict[str, Any]]]] = []
        node_errors: dict[str, Any] = {}
        validated: dict[str, tuple[bool, list[dict[str, Any]], str]] = {}
        for o in outputs:
            try:
                valid, reasons, _ = self._validate_inputs(prompt, o, validated, set())
            except Exception as ex:  # mirrors ComfyUI's catch-all
                valid = False
                reasons = [
                    {
                        "type": "exception_during_validation",
                        "message": "Exception when validating node",
                        "details": str(ex),
                        "extra_info": {
                            "exception_type": full_type_name(type(ex)),
                            "traceback": [
                                _TB_VALIDATE_PROMPT,
                                *getattr(ex, "comfy_frames", []),
                            ],
                        },
                    }
                ]
                validated[o] = (False, reasons, o)
            if valid is True:
                good_outputs.append(o)
                continue
            errors.append((o, reasons))
            for node_id, result in validated.items():
                if result[0] is not True and len(result[1]) > 0:
                    if node_id not in node_errors:
                        node_errors[node_id] = {
                            "errors": result[1],
                            "dependent_outputs": [],
                            "class_type": prompt[node_id]["class_type"],
                        }
                    node_errors[node_id]["dependent_outputs"].append(o)

        if not good_outputs:
            lines = [f"{e['message']}: {e['details']}" for _o, reasons in errors for e in reasons]
            error = {
                "type": "prompt_outputs_failed_validation",
                "message": "Prompt outputs failed validation",
                "details": "\n".join(lines),
                "extra_info": {},
            }
            return False, error, [], node_errors
        return True, None, good_outputs, node_errors

    def _validate_inputs(
        self,
        prompt: dict[str, Any],
        unique_id: str,
        validated: dict[str, tuple[bool, list[dict[str, Any]], str]],
        in_progress: set[str],
    ) -> tuple[bool, list[dict[str, Any]], str]:
        if unique_id in validated:
            return validated[unique_id]
        if unique_id in in_progress:
            # A cycle. The real server recurses until RecursionError and every frame on the
            # way back overwrites its entry with "invalid, no reasons"; the outcome is this.
            return False, [], unique_id
        in_progress.add(unique_id)
        try:
            result = self._validate_node(prompt, unique_id, validated, in_progress)
        finally:
            in_progress.discard(unique_id)
        validated[unique_id] = result
        return result

    def _validate_node(
        self,
        prompt: dict[str, Any],
        unique_id: str,
        validated: dict[str, tuple[bool, list[dict[str, Any]], str]],
        in_progress: set[str],
    ) -> tuple[bool, list[dict[str, Any]], str]:
        inputs = prompt[unique_id]["inputs"]
        class_type = prompt[unique_id]["class_type"]
        custom = self.custom.get(class_type, {})
        errors: list[dict[str, Any]] = []
        valid = True
        names = list(self.defs.inputs(class_type, "required")) + list(
            self.defs.inputs(class_type, "optional")
        )
        for x in names:
            input_type, category, extra_info = self.defs.input_info(class_type, x)
            if x not in inputs:
                if category == "required":
                    errors.append(
                        {
                            "type": "required_input_missing",
                            "message": "Required input is missing",
                            "details": f"{x}",
                            "extra_info": {"input_name": x},
                        }
                    )
                continue

            val = inputs[x]
            info = [input_type, extra_info]
            if isinstance(val, list):
                if len(val) != 2:
                    errors.append(
                        {
                            "type": "bad_linked_input",
                            "message": "Bad linked input, must be a length-2 list of "
                            "[node_id, slot_index]",
                            "details": f"{x}",
                            "extra_info": {
                                "input_name": x,
                                "input_config": info,
                                "received_value": val,
                            },
                        }
                    )
                    continue
                o_id = val[0]
                try:
                    o_class_type = prompt[o_id]["class_type"]
                except Exception as ex:
                    raise _tag(ex, _TB_LINKED_NODE) from None
                try:
                    received_type = self.defs.return_types(o_class_type)[val[1]]
                except IndexError:
                    raise _tag(IndexError("tuple index out of range"), _TB_RETURN_INDEX) from None
                except Exception as ex:
                    raise _tag(ex, _TB_RETURN_INDEX) from None
                if not validate_node_input(received_type, input_type):
                    errors.append(
                        {
                            "type": "return_type_mismatch",
                            "message": "Return type mismatch between linked nodes",
                            "details": f"{x}, received_type({received_type}) mismatch "
                            f"input_type({input_type})",
                            "extra_info": {
                                "input_name": x,
                                "input_config": info,
                                "received_type": received_type,
                                "linked_node": val,
                            },
                        }
                    )
                    continue
                try:
                    r = self._validate_inputs(prompt, o_id, validated, in_progress)
                    if r[0] is False:
                        valid = False
                        continue
                except Exception as ex:  # mirrors ComfyUI
                    valid = False
                    validated[o_id] = (
                        False,
                        [
                            {
                                "type": "exception_during_inner_validation",
                                "message": "Exception when validating inner node",
                                "details": str(ex),
                                "extra_info": {
                                    "input_name": x,
                                    "input_config": info,
                                    "exception_message": str(ex),
                                    "exception_type": full_type_name(type(ex)),
                                    "traceback": [_TB_INNER, *getattr(ex, "comfy_frames", [])],
                                    "linked_node": val,
                                },
                            }
                        ],
                        o_id,
                    )
                    continue
                continue

            try:
                if isinstance(val, dict) and "__value__" in val:
                    val = val["__value__"]
                    inputs[x] = val
                if input_type == "INT":
                    val = int(val)
                    inputs[x] = val
                if input_type == "FLOAT":
                    val = float(val)
                    inputs[x] = val
                if input_type == "STRING":
                    val = str(val)
                    inputs[x] = val
                if input_type == "BOOLEAN":
                    val = bool(val)
                    inputs[x] = val
            except Exception as ex:  # mirrors ComfyUI
                errors.append(
                    {
                        "type": "invalid_input_type",
                        "message": f"Failed to convert an input value to a {input_type} value",
                        "details": f"{x}, {val}, {ex}",
                        "extra_info": {
                            "input_name": x,
                            "input_config": info,
                            "received_value": val,
                            "exception_message": str(ex),
                        },
                    }
                )
                continue

            if x in custom:
                continue
            error = self._range_error(x, val, input_type, extra_info, info)
            if error is not None:
                errors.append(error)

        for x, check in custom.items():
            if x not in inputs or isinstance(inputs[x], list):
                continue
            r = check(inputs[x])
            if r is not True:
                details = f"{x}" if r is False else f"{x} - {r}"
                errors.append(
                    {
                        "type": "custom_validation_failed",
                        "message": "Custom validation failed for node",
                        "details": details,
                        "extra_info": {"input_name": x},
                    }
                )

        if errors or valid is not True:
            return False, errors, unique_id
        return True, [], unique_id

    @staticmethod
    def _range_error(
        x: str, val: Any, input_type: Any, extra_info: dict[str, Any], info: list[Any]
    ) -> dict[str, Any] | None:
        if "min" in extra_info and val < extra_info["min"]:
            return {
                "type": "value_smaller_than_min",
                "message": f"Value {val} smaller than min of {extra_info['min']}",
                "details": f"{x}",
                "extra_info": {"input_name": x, "input_config": info, "received_value": val},
            }
        if "max" in extra_info and val > extra_info["max"]:
            return {
                "type": "value_bigger_than_max",
                "message": f"Value {val} bigger than max of {extra_info['max']}",
                "details": f"{x}",
                "extra_info": {"input_name": x, "input_config": info, "received_value": val},
            }
        if isinstance(input_type, list) or input_type == "COMBO":
            options = extra_info.get("options", []) if input_type == "COMBO" else input_type
            if extra_info.get("multiselect", False) and isinstance(val, list):
                invalid = [v for v in val if v not in options]
            else:
                invalid = [val] if val not in options else []
            if invalid:
                config: Any = info
                if len(options) > 20:
                    list_info = f"(list of length {len(options)})"
                    config = None
                else:
                    list_info = str(options)
                return {
                    "type": "value_not_in_list",
                    "message": "Value not in list",
                    "details": f"{x}: '{val}' not in {list_info}",
                    "extra_info": {"input_name": x, "input_config": config, "received_value": val},
                }
        return None
