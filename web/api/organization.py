"""The organisation and its accounts (环督办 only): regions, units, officials with their posts,
users with their roles. Every write is one transaction with its ledger entry; a refused
field is named in `errors`."""
from __future__ import annotations

from marshmallow import Schema, fields, validate

from engine import organization_admin as org_admin
from engine.models import Post, PostKind, RegionLevel, Role, Unit, UnitKind
from engine.organization import region_heads, unit_heads

from .common import BEARER, Blueprint, caller_id, duban, only, reply, reply_json, reply_page
from .schemas import Id, Page, PageOf, PageQuery, PerPage

blp = Blueprint("organization", __name__, url_prefix="/api",
                description="The organisation (区域、单位、人员、职务) and the users who sign in, with their roles "
                            "(administrators only)")


def _codes(enum_cls) -> validate.OneOf:
    return validate.OneOf([m.value for m in enum_cls])


only(blp, Role.ADMIN, "organization", "administer the organisation and the users")


# -- schemas ---------------------------------------------------------------------------------------


class OrgRef(Schema):
    """A region, unit or official by id and name."""

    id = fields.Integer()
    name = fields.String()


class HeadsOut(Schema):
    party = fields.Nested(OrgRef, allow_none=True, metadata={"description": "the Party head (书记)"})
    government = fields.Nested(OrgRef, allow_none=True,
                               metadata={"description": "the government head (县长/镇长/局长)"})


class UnitOut(Schema):
    id = fields.Integer()
    name = fields.String()
    short_name = fields.String(allow_none=True)
    kind = fields.String(metadata={"description": ", ".join(k.value for k in UnitKind)})
    region = fields.Nested(OrgRef)
    heads = fields.Nested(HeadsOut)


UnitPage = PageOf(UnitOut, "UnitPage")


class RegionOut(Schema):
    id = fields.Integer()
    name = fields.String()
    level = fields.String(metadata={"description": "city, county or township"})
    parent_id = fields.Integer(allow_none=True)
    depth = fields.Integer(metadata={"description": "0 for a region without a parent"})
    heads = fields.Nested(HeadsOut, metadata={"description": "the heads of its Party committee and government"})
    units = fields.List(fields.Nested(OrgRef))


RegionPage = PageOf(RegionOut, "RegionPage")


class RegionIn(Schema):
    name = fields.String(required=True, validate=validate.Length(min=1, max=100))
    level = fields.String(required=True, validate=_codes(RegionLevel))
    parent_id = Id(load_default=None, allow_none=True, strict=True,
                   metadata={"description": "a region of a higher level; none for a city"})


class RegionPatch(Schema):
    name = fields.String(required=True, validate=validate.Length(min=1, max=100))


class UnitQuery(PageQuery):
    region = Id(metadata={"description": "only the units of this region"})


class UnitIn(Schema):
    name = fields.String(required=True, validate=validate.Length(min=1, max=100))
    short_name = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=40))
    kind = fields.String(required=True, validate=_codes(UnitKind),
                         metadata={"description": "a region has one party_committee and one government"})
    region_id = Id(required=True, strict=True)


class UnitPatch(Schema):
    name = fields.String(validate=validate.Length(min=1, max=100))
    short_name = fields.String(allow_none=True, validate=validate.Length(max=40))


class PostOut(Schema):
    id = fields.Integer()
    unit = fields.Nested(OrgRef)
    title = fields.String()
    kind = fields.Function(lambda p: p.kind.value, metadata={"description": "party, government or department"})
    is_head = fields.Boolean(metadata={"description": "the unit's Party head (kind party) or government head"})


PostPage = PageOf(PostOut, "PostPage")


class OfficialOut(Schema):
    id = fields.Integer()
    name = fields.String()
    party_member = fields.Boolean()
    gender = fields.String(allow_none=True)
    email = fields.String(allow_none=True)
    mobile = fields.String(allow_none=True)
    employee_number = fields.String(allow_none=True, metadata={
        "description": "工号: links the official to the identity platform's account (LDAP, OIDC)"})
    username = fields.Function(lambda o: o.user.username if o.user else None)
    posts = fields.List(fields.Nested(PostOut))


class OfficialPage(Schema):
    items = fields.List(fields.Nested(OfficialOut))
    total = fields.Integer()
    page = fields.Integer()
    per_page = fields.Integer()


class ListQuery(Schema):
    q = fields.String(validate=validate.Length(max=60), metadata={"description": "a part of the name"})
    page = Page()
    per_page = PerPage(20, 100)


class OfficialIn(Schema):
    name = fields.String(required=True, validate=validate.Length(min=1, max=60))
    party_member = fields.Boolean(load_default=False)
    gender = fields.String(load_default=None, allow_none=True, validate=validate.OneOf(["男", "女"]))
    email = fields.Email(load_default=None, allow_none=True, validate=validate.Length(max=200))
    mobile = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=20))
    employee_number = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=40))


class OfficialPatch(Schema):
    name = fields.String(validate=validate.Length(min=1, max=60))
    party_member = fields.Boolean()
    gender = fields.String(allow_none=True, validate=validate.OneOf(["男", "女"]))
    email = fields.Email(allow_none=True, validate=validate.Length(max=200))
    mobile = fields.String(allow_none=True, validate=validate.Length(max=20))
    employee_number = fields.String(allow_none=True, validate=validate.Length(max=40))


class PostIn(Schema):
    unit_id = Id(required=True, strict=True)
    title = fields.String(required=True, validate=validate.Length(min=1, max=60))
    kind = fields.String(required=True, validate=_codes(PostKind))
    is_head = fields.Boolean(load_default=False)
    succeed = fields.Boolean(load_default=False, metadata={
        "description": "a head post that replaces the unit's current head of the same side, whose post ends "
                       "in the same transaction; without it a second head is refused"})


class PostEndIn(Schema):
    note = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=200),
                         metadata={"description": "why, e.g. the removal document"})


class EndedPostOut(Schema):
    post_id = fields.Integer()
    official_id = fields.Integer()
    official = fields.String()
    unit_id = fields.Integer()
    unit = fields.String()
    title = fields.String()
    kind = fields.String()
    is_head = fields.Boolean()


class UserOut(Schema):
    id = fields.Integer()
    username = fields.String()
    display_name = fields.String()
    roles = fields.Function(lambda u: sorted(r.value for r in u.roles))
    active = fields.Boolean()
    official = fields.Nested(OrgRef, allow_none=True)


class UserPage(Schema):
    items = fields.List(fields.Nested(UserOut))
    total = fields.Integer()
    page = fields.Integer()
    per_page = fields.Integer()


class UserIn(Schema):
    username = fields.String(required=True, validate=validate.Length(min=3, max=60))
    display_name = fields.String(required=True, validate=validate.Length(min=1, max=60))
    password = fields.String(required=True, load_only=True, validate=validate.Length(
        min=org_admin.MIN_PASSWORD_LENGTH, max=org_admin.MAX_PASSWORD_LENGTH))
    roles = fields.List(fields.String(validate=_codes(Role)), required=True, validate=validate.Length(min=1),
                        metadata={"description": "admin (环督办), discipline (纪委监委), official, leader"})
    official_id = Id(load_default=None, allow_none=True, strict=True,
                     metadata={"description": "the official this account acts as (one account each)"})


class UserPatch(Schema):
    display_name = fields.String(validate=validate.Length(min=1, max=60))
    roles = fields.List(fields.String(validate=_codes(Role)), validate=validate.Length(min=1),
                        metadata={"description": "the whole new set; nobody removes their own admin role"})
    official_id = Id(allow_none=True, strict=True)
    active = fields.Boolean(metadata={"description": "false: cannot sign in, tokens stop working; not your own"})
    password = fields.String(load_only=True, validate=validate.Length(
        min=org_admin.MIN_PASSWORD_LENGTH, max=org_admin.MAX_PASSWORD_LENGTH))


# -- views -------------------------------------------------------------------------------------------


def _ref(row):
    return {"id": row.id, "name": row.name} if row is not None else None


def _heads_view(heads) -> dict:
    return {"party": _ref(heads.party), "government": _ref(heads.government)}


def _unit_view(session, unit: Unit) -> dict:
    return {"id": unit.id, "name": unit.name, "short_name": unit.short_name, "kind": unit.kind.value,
            "region": unit.region, "heads": _heads_view(unit_heads(session, unit))}


@blp.get("/regions")
@blp.arguments(PageQuery, location="query")
@blp.response(200, RegionPage)
@blp.doc(security=BEARER)
def list_regions(query):
    """The region tree, flattened, a page at a time: each region followed by the regions below
    it, with its units and its Party and government heads."""
    with duban().db.reading() as session:
        found = org_admin.regions_page(session, query["page"], query["per_page"])
        return reply_page(RegionPage(), found._replace(items=[_region_dump(node) for node in found.items]), query)


def _region_dump(node) -> dict:
    region = node.region
    return {"id": region.id, "name": region.name, "level": region.level.value, "parent_id": region.parent_id,
            "depth": node.depth, "heads": _heads_view(node.heads), "units": [_ref(u.unit) for u in node.units]}


# The answers to writes are built inside the action's transaction (`answer=`), so that a
# committed change is answered with what it committed, without a second connection.


def _region_answer(session, region_id: int) -> dict:
    region = org_admin.get_region(session, region_id)
    depth = len(region.lineage()) - 1
    node = org_admin.RegionNode(region, depth, region_heads(session, region),
                                [org_admin.UnitNode(u, unit_heads(session, u)) for u in region.units])
    return RegionOut().dump(_region_dump(node))


@blp.post("/regions")
@blp.arguments(RegionIn)
@blp.response(201, RegionOut)
@blp.doc(security=BEARER)
def create_region(body):
    """Create a region: a city (no parent), a county (in a city) or a township (in a county or city)."""
    user_id = caller_id()
    return reply_json(duban().create_region(user_id, body["name"], body["level"], body["parent_id"],
                                            answer=_region_answer), 201)


@blp.patch("/regions/<int:region_id>")
@blp.arguments(RegionPatch)
@blp.response(200, RegionOut)
@blp.doc(security=BEARER)
def rename_region(body, region_id: int):
    """Rename a region (names are unique)."""
    user_id = caller_id()
    return reply_json(duban().rename_region(user_id, region_id, body["name"], answer=_region_answer))


@blp.get("/units")
@blp.arguments(UnitQuery, location="query")
@blp.response(200, UnitPage)
@blp.doc(security=BEARER)
def list_units(query):
    """Units with their heads, in the region tree's order, a page at a time (`region`: one
    region's only)."""
    with duban().db.reading() as session:
        found = org_admin.units_page(session, query.get("region"), query["page"], query["per_page"])
        return reply_page(UnitPage(), found._replace(items=[_unit_view(session, unit) for unit in found.items]),
                          query)


def _unit_answer(session, unit_id: int) -> dict:
    return UnitOut().dump(_unit_view(session, org_admin.get_unit(session, unit_id)))


@blp.post("/units")
@blp.arguments(UnitIn)
@blp.response(201, UnitOut)
@blp.doc(security=BEARER)
def create_unit(body):
    """Create a unit in a region (names are unique; one Party committee and one government per region)."""
    user_id = caller_id()
    return reply_json(duban().create_unit(user_id, body["name"], body["kind"], body["region_id"], body["short_name"],
                                          answer=_unit_answer), 201)


@blp.patch("/units/<int:unit_id>")
@blp.arguments(UnitPatch)
@blp.response(200, UnitOut)
@blp.doc(security=BEARER)
def rename_unit(body, unit_id: int):
    """Rename a unit, or change its short name."""
    user_id = caller_id()
    app = duban()
    with app.db.reading() as session:
        unit = org_admin.get_unit(session, unit_id)
        name, short_name = unit.name, unit.short_name
    return reply_json(app.rename_unit(user_id, unit_id, body.get("name", name), body.get("short_name", short_name),
                                      answer=_unit_answer))


@blp.get("/officials")
@blp.arguments(ListQuery, location="query")
@blp.response(200, OfficialPage)
@blp.doc(security=BEARER)
def list_officials(query):
    """Officials with their posts, by name (`q`: a part of it), paginated."""
    with duban().db.reading() as session:
        items, total = org_admin.officials_page(session, query.get("q"), query["page"], query["per_page"])
        return reply(OfficialPage(), {"items": items, "total": total, "page": query["page"],
                                      "per_page": query["per_page"]})


def _official_reply(official_id: int, status: int):
    with duban().db.reading() as session:
        return reply(OfficialOut(), org_admin.get_official(session, official_id), status)


def _official_answer(session, official_id: int) -> dict:
    return OfficialOut().dump(org_admin.get_official(session, official_id))


@blp.get("/officials/<int:official_id>")
@blp.response(200, OfficialOut)
@blp.doc(security=BEARER)
def get_official(official_id: int):
    """One official with their posts and account."""
    return _official_reply(official_id, 200)


@blp.post("/officials")
@blp.arguments(OfficialIn)
@blp.response(201, OfficialOut)
@blp.doc(security=BEARER)
def create_official(body):
    """Create an official (posts are added next: POST /api/officials/{id}/posts)."""
    user_id = caller_id()
    return reply_json(duban().create_official(user_id, body["name"], body["party_member"], body["gender"],
                                              body["email"], body["mobile"], body["employee_number"],
                                              answer=_official_answer), 201)


@blp.patch("/officials/<int:official_id>")
@blp.arguments(OfficialPatch)
@blp.response(200, OfficialOut)
@blp.doc(security=BEARER)
def update_official(body, official_id: int):
    """Change an official's name, Party membership, gender, email, mobile or employee number (工号)."""
    user_id = caller_id()
    return reply_json(duban().update_official(user_id, official_id, answer=_official_answer, **body))


@blp.get("/officials/<int:official_id>/posts")
@blp.arguments(PageQuery, location="query")
@blp.response(200, PostPage)
@blp.doc(security=BEARER)
def list_posts(query, official_id: int):
    """An official's posts, head posts first (then by id), a page at a time."""
    with duban().db.reading() as session:
        return reply_page(PostPage(), org_admin.posts_page(session, official_id, query["page"], query["per_page"]),
                          query)


@blp.post("/officials/<int:official_id>/posts")
@blp.arguments(PostIn)
@blp.response(201, PostOut)
@blp.doc(security=BEARER)
def add_post(body, official_id: int):
    """Give an official a post. A unit has one head per side (Party; government or department):
    a second head is refused unless `succeed`, which ends the current head's post."""
    user_id = caller_id()
    return reply_json(duban().add_post(user_id, official_id, body["unit_id"], body["title"], body["kind"],
                                       body["is_head"], body["succeed"], answer=_post_answer), 201)


def _post_answer(session, post_id: int) -> dict:
    return PostOut().dump(session.get(Post, post_id))


@blp.post("/officials/<int:official_id>/posts/<int:post_id>/end")
@blp.arguments(PostEndIn)
@blp.response(200, EndedPostOut)
@blp.doc(security=BEARER)
def end_post(body, official_id: int, post_id: int):
    """End a post. Refused (400, `errors.post`) while the engine relies on it: a head post whose
    unit has unfinished problems (appoint the successor with `succeed` instead), or the last
    post through which an active account acts for a unit with ready tasks. The ledger keeps it."""
    user_id = caller_id()
    return reply(EndedPostOut(), duban().end_post(user_id, official_id, post_id, body["note"]))


@blp.get("/users")
@blp.arguments(ListQuery, location="query")
@blp.response(200, UserPage)
@blp.doc(security=BEARER)
def list_users(query):
    """Users with their roles and linked official (`q`: a part of the username or display name)."""
    with duban().db.reading() as session:
        items, total = org_admin.users_page(session, query.get("q"), query["page"], query["per_page"])
        return reply(UserPage(), {"items": items, "total": total, "page": query["page"],
                                  "per_page": query["per_page"]})


def _user_reply(user_id: int, status: int):
    with duban().db.reading() as session:
        return reply(UserOut(), org_admin.get_user(session, user_id), status)


def _user_answer(session, user_id: int) -> dict:
    return UserOut().dump(org_admin.get_user(session, user_id))


@blp.get("/users/<int:user_id>")
@blp.response(200, UserOut)
@blp.doc(security=BEARER)
def get_user(user_id: int):
    """One user."""
    return _user_reply(user_id, 200)


@blp.post("/users")
@blp.arguments(UserIn)
@blp.response(201, UserOut)
@blp.doc(security=BEARER)
def create_user(body):
    """Create an account (the password is stored as an argon2 hash)."""
    caller = caller_id()
    return reply_json(duban().create_user(caller, body["username"], body["display_name"], body["password"],
                                          body["roles"], body["official_id"], answer=_user_answer), 201)


@blp.patch("/users/<int:user_id>")
@blp.arguments(UserPatch)
@blp.response(200, UserOut)
@blp.doc(security=BEARER)
def update_user(body, user_id: int):
    """Change roles, display name, linked official, active state or password, all or nothing.
    Nobody deactivates themself or removes their own admin role; one active admin remains."""
    caller = caller_id()
    return reply_json(duban().update_user(caller, user_id, answer=_user_answer, **body))
