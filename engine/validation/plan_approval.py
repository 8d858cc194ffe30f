"""`approvesPlan` on a user task (engine/plans.py): `field=value`, the field of this task's
form and its value that approve the pending plan (`decision=approve`), or `true` (completing
the task approves). A value the runtime cannot read, a field the form lacks, or a value the
field can never take would leave every plan pending or sent back: each is an error naming the
element, found before deployment."""
from __future__ import annotations

import difflib

from ..workflow import forms as task_forms
from ..workflow.document import properties_of
from .findings import Finding
from .graph import local

CODE = "approves-plan"
ALWAYS = ("true", "yes", "1")   # plans.approves: completing the task approves


def check(process, forms: dict[str, dict], findings: list[Finding]) -> None:
    for element in process.iter():
        if not isinstance(element.tag, str) or not element.get("id"):
            continue
        rule = (properties_of(element).get("approvesPlan") or "").strip()
        if rule:
            _check(element, rule, forms.get(element.get("id")), findings)


def _check(element, rule: str, form: dict | None, findings: list[Finding]) -> None:
    def found(message: str, message_zh: str) -> None:
        findings.append(Finding(element.get("id"), element.sourceline, message, code=CODE, message_zh=message_zh))

    if local(element) != "userTask":
        found("approvesPlan belongs on a user task, whose form decides the plan",
              "approvesPlan 只能用于用户任务，由其表单决定是否批准整改方案")
        return
    if "=" not in rule:
        if rule.lower() not in ALWAYS:
            found(f"approvesPlan {rule!r} is malformed: write field=value, the field of this task's form and "
                  "the value that approves the plan (e.g. decision=approve)",
                  f"approvesPlan “{rule}”格式不正确：应写作“字段=值”，即本任务表单中批准整改方案的字段及其取值（如 decision=approve）")
        return
    field, expected = (part.strip() for part in rule.split("=", 1))
    if not field or not expected:
        found(f"approvesPlan {rule!r} is malformed: both the field and the value are needed (e.g. decision=approve)",
              f"approvesPlan “{rule}”格式不正确：字段和值都不能为空（如 decision=approve）")
        return
    components = {c["key"]: c for c in task_forms.inputs(form or {}) if c.get("key")}
    if field not in components:
        close = difflib.get_close_matches(field, components, n=1)
        hint, hint_zh = (f"; did you mean {close[0]!r}?", f"；是否应为 {close[0]}？") if close else ("", "")
        found(f"approvesPlan names the field {field!r} but this task's form has no such field" + hint,
              f"approvesPlan 指定了字段 {field}，但本任务的表单中没有该字段" + hint_zh)
        return
    values = components[field].get("values")
    if components[field].get("valuesKey") or not values:
        return  # options from the process data, or none listed: any value may come
    options = [str(v.get("value")) for v in values if isinstance(v, dict)]
    if expected not in options:
        found(f"approvesPlan: {expected!r} is not one of the options of {field!r} ({', '.join(options)}): "
              "no completion could approve the plan",
              f"approvesPlan：{expected} 不是字段 {field} 的可选值（{'、'.join(options)}），任何办理都无法批准整改方案")
