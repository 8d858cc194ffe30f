"""The daily bulletin (一天一通报): issued by the scheduler every working day, or on demand."""
from __future__ import annotations

import io

from flask import send_file
from marshmallow import Schema, fields

from engine.bulletin import render

from .common import BEARER, Blueprint, caller_id, duban, reply, reply_page
from .schemas import PageOf, PageQuery

blp = Blueprint("bulletins", __name__, url_prefix="/api", description="The daily bulletin (一天一通报)")

DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


class MakeIn(Schema):
    day = fields.Date(load_default=None, metadata={"description": "the Beijing date (default: today)"})
    remake = fields.Boolean(load_default=False, metadata={"description": "compose a stored bulletin again"})


class BulletinSummary(Schema):
    day = fields.Date()
    number = fields.Integer()
    title = fields.String()
    made_at = fields.AwareDateTime()
    made_by = fields.String()
    totals = fields.Raw()


BulletinPage = PageOf(BulletinSummary, "BulletinPage")


class BulletinOut(Schema):
    class Meta:
        description = "every figure of the bulletin; see engine.bulletin.Bulletin"

    day = fields.String()
    number = fields.Integer()
    title = fields.String()
    made_at = fields.String()
    made_by = fields.String()
    previous_working_day = fields.String()
    as_of = fields.String()
    city = fields.String()
    totals = fields.Raw()
    newly_closed = fields.Raw()
    escalations = fields.Raw()
    escalations_by_level = fields.Raw()
    interviews = fields.Raw()
    decisions = fields.Raw()
    regions = fields.Raw()
    units = fields.Raw()
    overdue = fields.Raw()


def _json(bulletin, status: int = 200):
    return reply(BulletinOut(), bulletin.to_json(), status)


@blp.get("/bulletins")
@blp.arguments(PageQuery, location="query")
@blp.response(200, BulletinPage)
@blp.doc(security=BEARER)
def list_bulletins(query):
    """The bulletins issued, newest first, a page at a time (administrators, the discipline
    office, leaders)."""
    return reply_page(BulletinPage(), duban().bulletins(caller_id(), query["page"], query["per_page"]), query)


@blp.post("/bulletins")
@blp.arguments(MakeIn)
@blp.response(201, BulletinOut)
@blp.alt_response(200, schema=BulletinOut, description="that day's bulletin was issued already (no remake)")
@blp.doc(security=BEARER)
def make_bulletin(body):
    """Issue the bulletin of a day now (环督办); 201 when made, 200 with the stored one when that
    day was already issued and `remake` is not set."""
    bulletin, made = duban().make_bulletin(caller_id(), body["day"], body["remake"])
    return _json(bulletin, 201 if made else 200)


@blp.get("/bulletins/<day>")
@blp.response(200, BulletinOut)
@blp.doc(security=BEARER)
def get_bulletin(day):
    """The bulletin issued for a day (YYYY-MM-DD)."""
    return _json(duban().bulletin(day, caller_id()))


def _download(day: str, suffix: str, mimetype: str, make):
    bulletin = duban().bulletin(day, caller_id())
    name = f"{bulletin.title}第{bulletin.number}期（{bulletin.day.isoformat()}）.{suffix}"
    return send_file(io.BytesIO(make(bulletin)), mimetype=mimetype, as_attachment=True, download_name=name)


@blp.get("/bulletins/<day>.docx")
@blp.response(200, content_type=DOCX)
@blp.doc(security=BEARER)
def bulletin_docx(day):
    """The bulletin as a Word document."""
    return _download(day, "docx", DOCX, render.to_docx)


@blp.get("/bulletins/<day>.xlsx")
@blp.response(200, content_type=XLSX)
@blp.doc(security=BEARER)
def bulletin_xlsx(day):
    """The bulletin as a workbook with charts."""
    return _download(day, "xlsx", XLSX, render.to_xlsx)
