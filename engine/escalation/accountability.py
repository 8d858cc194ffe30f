"""Which accountability forms (问责方式) fit an official, from config/accountability.toml."""
from __future__ import annotations

import functools
import tomllib

from ..models import Official, PostKind
from ..settings import CONFIG_DIR


@functools.lru_cache(maxsize=1)
def catalogue() -> dict[str, list[dict]]:
    with open(CONFIG_DIR / "accountability.toml", "rb") as handle:
        data = tomllib.load(handle)
    return {"party": data["party"], "government": data["government"]}


def fitting_forms(official: Official) -> tuple[list[dict], list[dict]]:
    """(Party forms, 政务处分 forms) as form-js options: Party forms for a Party member,
    政务处分 for one who holds a government or department post (a public official), both for
    a Party member in a government post."""
    forms = catalogue()
    public_official = any(post.kind in (PostKind.GOVERNMENT, PostKind.DEPARTMENT) for post in official.posts)
    party = [{"label": f["label"], "value": f["code"]} for f in forms["party"]] if official.party_member else []
    government = [{"label": f["label"], "value": f["code"]} for f in forms["government"]] if public_official else []
    return party, government
