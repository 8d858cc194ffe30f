"""The engine's refusals worded in the reader's language. A refusal's per-field messages are
the engine's (and marshmallow's) stable English sentences; each known sentence is a code with
its parameters, worded here from the catalog. A sentence without an entry is shown as the
engine said it. The JSON API keeps the English (clients key on its `code`)."""
from __future__ import annotations

import re

from flask_babel import lazy_gettext as _l

# code: (the engine's sentence as a pattern with named parameters, the catalog's wording)
MESSAGES = {
    "required": (r"Missing data for required field\.", _l("此项必填。")),
    "null": (r"Field may not be null\.", _l("此项必填。")),
    "required_when": (r"Required when (?P<other>\S+) is (?P<expected>.+)\.", _l("当 %(other)s 为 %(expected)s 时必填。")),
    "checked": (r"Must be checked\.", _l("必须勾选。")),
    "attach": (r"Attach at least one file\.", _l("请至少上传一个文件。")),
    "too_short": (r"Shorter than minimum length (?P<min>\d+)\.", _l("至少 %(min)s 个字符。")),
    "too_long": (r"Longer than maximum length (?P<max>\d+)\.", _l("最多 %(max)s 个字符。")),
    "length_between": (r"Length must be between (?P<min>\d+) and (?P<max>\d+)\.", _l("长度须在 %(min)s 到 %(max)s 之间。")),
    "pattern": (r"Does not match the required pattern\.", _l("格式不符合要求。")),
    "at_least": (r"Must be greater than or equal to (?P<min>\S+)\.", _l("不能小于 %(min)s。")),
    "above": (r"Must be greater than (?P<min>\S+)\.", _l("必须大于 %(min)s。")),
    "at_most": (r"Must be less than or equal to (?P<max>\S+)\.", _l("不能大于 %(max)s。")),
    "below": (r"Must be less than (?P<max>\S+)\.", _l("必须小于 %(max)s。")),
    "between": (r"Must be greater than or equal to (?P<min>\S+) and less than or equal to (?P<max>\S+)\.",
                _l("须在 %(min)s 到 %(max)s 之间。")),
    "choice": (r"Must be one of: .*\.", _l("不是可选的值。")),
    "not_number": (r"Not a valid number\.", _l("不是有效的数字。")),
    "special_number": (r"Special numeric values \(nan or infinity\) are not permitted\.", _l("不是有效的数字。")),
    "not_integer": (r"Not a valid integer\.", _l("不是有效的整数。")),
    "not_date": (r"Not a valid date\.", _l("不是有效的日期。")),
    "not_datetime": (r"Not a valid (aware )?datetime\.", _l("不是有效的日期时间。")),
    "not_boolean": (r"Not a valid boolean\.", _l("不是有效的是/否。")),
    "not_list": (r"Not a valid list\.", _l("不是有效的列表。")),
    "not_string": (r"Not a valid string\.", _l("不是有效的文字。")),
    "unknown_field": (r"Unknown field\.", _l("表单中没有这一项。")),
    "invalid": (r"Invalid value\.", _l("值无效。")),
    "file_empty": (r"the file is empty", _l("文件是空的。")),
    "file_too_large": (r"at most (?P<mb>\d+) MiB", _l("文件超过 %(mb)s MB。")),
    "date_after": (r"must be after (?P<date>\d{4}-\d{2}-\d{2})", _l("必须晚于 %(date)s。")),
    "plan_needs_extension": (r"the plan's deadline (?P<proposed>\S+) is later than the current deadline (?P<current>\S+): "
                             r"an extension request must be approved first, or send the plan back",
                             _l("方案整改时限 %(proposed)s 晚于现行整改时限 %(current)s：须先经延期申请批准，方可通过；或退回方案。")),
    "plan_long_term": (r"the plan makes the problem long-term, dropping its deadline (?P<current>\S+): "
                       r"a plan review cannot grant that, send the plan back",
                       _l("方案改为长期坚持，将取消整改时限 %(current)s：审核方案不能批准取消时限，请退回方案。")),
}
_COMPILED = [(code, re.compile(pattern), wording) for code, (pattern, wording) in MESSAGES.items()]


def code_of(message: str) -> tuple[str, dict] | None:
    """The code and parameters of one of the engine's sentences; None if it is not known."""
    for code, pattern, _wording in _COMPILED:
        found = pattern.fullmatch(message.strip())
        if found:
            return code, found.groupdict()
    return None


def word(message) -> str:
    """One of the engine's sentences in the reader's language (the sentence itself if unknown)."""
    text = str(message)
    known = code_of(text)
    if known is None:
        return text
    code, params = known
    wording = str(MESSAGES[code][1])
    return wording % params if params else wording


def worded(errors: dict) -> dict:
    """A refusal's per-field messages in the reader's language."""
    return {key: [word(m) for m in (messages if isinstance(messages, list) else [messages])]
            for key, messages in errors.items()}


# the form-js viewer's own sentences (@bpmn-io/form-js-viewer's Validator), as JavaScript
# patterns with named groups, and their wording; web/static/task-form.js words them in the page
VIEWER_MESSAGES = [
    (r"^Field is required\.$", _l("此项必填。")),
    (r"^Field must match pattern (?<pattern>.*)\.$", _l("格式不符合要求。")),
    (r"^Field must have minimum value of (?<min>.*)\.$", _l("不能小于 %(min)s。")),
    (r"^Field must have maximum value of (?<max>.*)\.$", _l("不能大于 %(max)s。")),
    (r"^Field must have minimum length of (?<min>.*)\.$", _l("至少 %(min)s 个字符。")),
    (r"^Field must have maximum length of (?<max>.*)\.$", _l("最多 %(max)s 个字符。")),
    (r"^Field must be a valid +international phone number\..*$", _l("不是有效的国际电话号码（例如 +861012345678）。")),
    (r"^Field must be a valid email\.$", _l("不是有效的电子邮箱地址。")),
    (r"^Value is not a number\.$", _l("不是有效的数字。")),
    (r"^Value is expected to be an integer\.$", _l("须为整数。")),
    (r"^Value is expected to have at most (?<digits>\d+) decimal digits?\.$", _l("最多 %(digits)s 位小数。")),
    (r"^Please select a valid value, the two nearest valid values are (?<below>\S+) and (?<above>\S+)\.$",
     _l("请填写有效的值，最接近的两个有效值是 %(below)s 和 %(above)s。")),
]


def viewer_messages() -> list[list[str]]:
    """[pattern, wording with %(name)s] pairs in the reader's language, for the page."""
    return [[pattern, str(wording)] for pattern, wording in VIEWER_MESSAGES]
