"""The ledger's columns (DOMAIN §2) and the names offices give them."""
from __future__ import annotations

import re

# field → the header texts that name it, the usual one first (the one an export writes)
SYNONYMS: dict[str, tuple[str, ...]] = {
    "seq": ("序号",),
    "code": ("问题编号", "编号", "问题代码", "交办编号", "清单编号"),
    "title": ("问题名称", "问题标题", "问题简称"),
    "source_batch": ("问题来源/批次", "来源/批次", "问题来源及批次"),
    "source": ("问题来源", "来源", "督察类别"),
    "batch": ("批次", "督察批次", "交办批次"),
    "description": ("问题描述", "反馈问题", "问题内容", "存在问题", "督察反馈问题", "反馈问题内容", "具体问题"),
    "category": ("问题类型", "问题类别", "问题分类", "类别", "类型", "污染类型"),
    "region": ("所属区县/乡镇", "所属区县", "所属乡镇", "所属地区", "属地", "区县", "县区", "所在地", "地区", "涉及地区"),
    "leading_official": ("责任领导", "包抓领导", "包案领导", "牵头领导", "责任市领导", "责任县领导", "包抓责任领导"),
    "lead_unit": ("牵头单位", "牵头责任单位", "主责单位", "牵头部门"),
    "cooperating_units": ("配合单位", "责任单位", "协办单位", "配合部门"),
    "responsible": ("责任人", "具体责任人", "整改责任人", "直接责任人"),
    "target": ("整改目标",),
    "measures": ("整改措施", "整改方案", "主要措施"),
    "deadline": ("整改时限", "完成时限", "整改期限", "时限", "整改时间", "完成时间"),
    "progress": ("整改进展", "进展情况", "整改情况", "整改状态", "办理情况", "办理进展"),
    "completion": ("完成情况", "是否完成", "完成状态"),
    "light": ("红黄绿灯", "灯色"),
    "closed": ("是否销号", "销号情况"),
    "closed_at": ("销号时间", "销号日期", "销号时间/日期"),
    "sites": ("点位", "问题点位", "涉及点位"),
}

REQUIRED = ("code", "description", "region", "lead_unit", "responsible", "deadline")


def normalise(text) -> str:
    """A header as compared: no spaces or line breaks, no bracketed remark, half-width slash."""
    text = re.sub(r"\s+", "", str(text or ""))
    text = re.sub(r"[（(][^）)]*[）)]", "", text)
    return text.replace("／", "/").replace("、", "/")


_EXACT = {normalise(name): field for field, names in SYNONYMS.items() for name in names}
_BY_LENGTH = sorted(_EXACT.items(), key=lambda item: -len(item[0]))


def field_of(header, exact: bool = False) -> str | None:
    """The field a header names: exactly, else the longest known name it contains."""
    text = normalise(header)
    if not text:
        return None
    if text in _EXACT or exact:
        return _EXACT.get(text)
    for name, field in _BY_LENGTH:
        if len(name) >= 2 and name in text:
            return field
    return None


def label(field: str) -> str:
    return SYNONYMS[field][0]
