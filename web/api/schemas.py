"""What crosses the API, in marshmallow: requests validated, responses serialized."""
from __future__ import annotations

from marshmallow import Schema, fields, validate

from engine import plans
from engine.problems import SORT_CHOICES, is_overdue
from engine.text import ID_MAX
from engine.models import DeadlineKind, Light, ProblemCategory, ProblemSource, ProblemStatus, TaskState


def _codes(enum_cls) -> validate.OneOf:
    return validate.OneOf([m.value for m in enum_cls])


def _calendar():
    """The working-day calendar as the database has it, looked up once per request."""
    from flask import g

    from .common import duban

    if "working_calendar" not in g:
        g.working_calendar = duban().current_calendar()
    return g.working_calendar


def _provisional(attr):
    """Whether a date or moment lies in a year whose holiday arrangement is not known yet
    (its working days are guessed from the weekdays)."""
    return fields.Function(lambda obj: getattr(obj, attr) is not None and _calendar().is_provisional(getattr(obj, attr)),
                           metadata={"description": f"{attr} lies in a year whose holiday arrangement is not known "
                                                    "yet: counted on weekdays, it may move"})


def _light():
    return fields.Function(lambda obj: obj.light.value,
                           metadata={"description": "traffic light: green, yellow (due soon or a milestone missed), "
                                                    "red (overdue) or closed"})


DESCRIPTION_MAX = 10_000   # a description, target, measures, reason or note: Text in the database
SITES_MAX = 200            # sites (点位) of one problem
LIST_MAX = 200             # ids in one list (cooperating units, roles)
PAGE_MAX = 1_000_000


def Id(**kwargs) -> fields.Integer:
    """An id in a body or a query string: a whole number from 1 to 2^31-1 (what both
    databases store); a larger one is refused naming the field instead of overflowing."""
    kwargs.setdefault("validate", validate.Range(min=1, max=ID_MAX))
    return fields.Integer(**kwargs)


def Page(**kwargs) -> fields.Integer:
    return fields.Integer(load_default=1, validate=validate.Range(min=1, max=PAGE_MAX), **kwargs)


def PerPage(default: int, most: int) -> fields.Integer:
    return fields.Integer(load_default=default, validate=validate.Range(min=1, max=most))


class PageQuery(Schema):
    """Which page of a list: `page` from 1, `per_page` rows on it (50 unless asked, 200 at most)."""
    page = Page()
    per_page = PerPage(50, 200)


def PageOf(item: type[Schema], name: str) -> type[Schema]:
    """The answer of a paginated list: `{"items": [...], "total": n, "page": p, "per_page": k}`,
    `total` counting every row of the list, not only this page's."""
    return type(name, (Schema,), {
        "items": fields.List(fields.Nested(item), required=True),
        "total": fields.Integer(required=True, metadata={"description": "rows in the whole list"}),
        "page": fields.Integer(required=True),
        "per_page": fields.Integer(required=True),
    })


def Text(most: int = DESCRIPTION_MAX, least: int = 0, **kwargs) -> fields.String:
    """Free text with the database column's bound (or DESCRIPTION_MAX for a Text column)."""
    kwargs.setdefault("validate", validate.Length(min=least, max=most))
    return fields.String(**kwargs)


class Ref(Schema):
    id = fields.Integer()
    name = fields.String()


class OfficialRef(Ref):
    username = fields.Function(lambda o: o.user.username if o.user else None)


class MilestoneIn(Schema):
    title = fields.String(required=True, validate=validate.Length(min=1, max=200))
    due = fields.Date(required=True)


class ProblemIn(Schema):
    code = fields.String(required=True, validate=validate.Length(min=1, max=40))
    title = fields.String(required=True, validate=validate.Length(min=1, max=200))
    description = Text(required=True, least=1)
    source = fields.String(required=True, validate=_codes(ProblemSource),
                           metadata={"description": "central, provincial, look_back, yangtze_film, petition, self_check"})
    batch = fields.String(required=True, validate=validate.Length(min=1, max=60))
    category = fields.String(required=True, validate=_codes(ProblemCategory))
    region_id = Id(required=True, strict=True)
    lead_unit_id = Id(required=True, strict=True)
    responsible_official_id = Id(required=True, strict=True)
    leading_official_id = Id(load_default=None, allow_none=True, strict=True)
    industry_unit_id = Id(load_default=None, allow_none=True, strict=True)
    cooperating_unit_ids = fields.List(Id(strict=True), load_default=list, validate=validate.Length(max=LIST_MAX))
    target = Text(load_default=None, allow_none=True)
    measures = Text(load_default=None, allow_none=True)
    deadline_kind = fields.String(load_default=DeadlineKind.BY_DATE.value, validate=_codes(DeadlineKind))
    deadline = fields.Date(load_default=None, allow_none=True)
    sites = fields.List(fields.String(validate=validate.Length(min=1, max=200)), load_default=list,
                        validate=validate.Length(max=SITES_MAX))
    milestones = fields.List(fields.Nested(MilestoneIn), load_default=list, validate=validate.Length(max=SITES_MAX))
    process_key = fields.String(load_default="rectification", validate=validate.Length(min=1, max=100))


class ProblemFilterQuery(Schema):
    status = fields.String(validate=_codes(ProblemStatus))
    region = Id(metadata={"description": "region id; includes the regions below it"})
    unit = Id(metadata={"description": "lead or cooperating unit id"})
    lead_unit = Id(metadata={"description": "lead unit id (牵头单位) only"})
    source = fields.String(validate=_codes(ProblemSource))
    batch = fields.String(validate=validate.Length(max=60))
    category = fields.String(validate=_codes(ProblemCategory))
    overdue = fields.Boolean(metadata={"description": "past the deadline and not closed"})
    light = fields.String(validate=_codes(Light), metadata={"description": "green, yellow, red or closed"})
    q = fields.String(validate=validate.Length(max=100), metadata={
        "description": "a part of the code or the title, or of the name of the responsible person, the lead or a "
                       "cooperating unit, or the region"})


class ProblemQuery(ProblemFilterQuery):
    sort = fields.String(validate=validate.OneOf(SORT_CHOICES), metadata={
        "description": "the order: a column, '-' before it for descending (without it: by id); overdue_days "
                       "sorts by days overdue (逾期天数), those not overdue counting 0"})
    page = Page()
    per_page = PerPage(20, 100)


def _label(attr):
    return fields.Function(lambda obj: getattr(obj, attr).label if getattr(obj, attr) else None)


class IncidentOut(Schema):
    """An incident (流程异常): a step of a process instance that failed, with its retries."""

    id = fields.Integer()
    instance_id = fields.Integer()
    problem_id = fields.Integer()
    problem_code = fields.String()
    process = fields.String(metadata={"description": "the process definition's key"})
    element_id = fields.String(metadata={"description": "the BPMN element that failed ('process' when unknown)"})
    element_name = fields.String(allow_none=True)
    error_type = fields.String(metadata={"description": "e.g. NameError, WorkflowException, SystemExit"})
    message = fields.String()
    happened_at = fields.AwareDateTime()
    last_attempt_at = fields.AwareDateTime()
    attempts = fields.Integer(metadata={"description": "failed runs of the step, the first one included"})
    next_retry_at = fields.AwareDateTime(allow_none=True, metadata={"description": "the next automatic retry"})
    status = fields.String(validate=validate.OneOf(["open", "resolved"]))
    resolved_at = fields.AwareDateTime(allow_none=True)
    resolved_by = fields.String(allow_none=True, metadata={"description": "null: resolved by an automatic retry"})
    resolution = fields.String(allow_none=True, metadata={
        "description": "how it was resolved: retried, moved, migrated or cancelled"})
    note = fields.String(allow_none=True, metadata={"description": "the reason given by whoever repaired it"})
    version = fields.Integer(allow_none=True, metadata={"description": "the process version the instance runs on"})


class TaskOut(Schema):
    id = fields.Integer()
    problem_id = fields.Integer()
    problem_code = fields.Function(lambda t: t.problem.code)
    instance_id = fields.Integer()
    element_id = fields.String()
    name = fields.String()
    lane = fields.String()
    assignee = fields.Function(lambda t: t.assignee.username if t.assignee else None)
    candidate_unit = fields.Nested(Ref, allow_none=True)
    candidate_role = fields.Function(lambda t: t.candidate_role.value if t.candidate_role else None)
    due_at = fields.AwareDateTime(allow_none=True, metadata={"description": "none: the task has no due time"})
    due_provisional = _provisional("due_at")
    light = _light()
    state = fields.Function(lambda t: t.state.value)
    created_at = fields.AwareDateTime()
    completed_by = fields.Function(lambda t: t.completed_by.username if t.completed_by else None)
    completed_at = fields.AwareDateTime(allow_none=True)
    data = fields.Raw(allow_none=True)


class TaskDetail(TaskOut):
    form = fields.Raw(allow_none=True, metadata={"description": "form-js schema of this task"})
    form_context = fields.Raw(metadata={"description": "process data the form's dynamic options (valuesKey) read"})
    incident = fields.Nested(IncidentOut, allow_none=True, dump_default=None, metadata={
        "description": "after a completion: the incident the process stopped at when a step after the task failed "
                       "(the completion stands); otherwise the open incident of the task's process, if any"})


class TaskQuery(Schema):
    all = fields.Boolean(load_default=False, metadata={"description": "admins and the discipline office: everyone's"})
    state = fields.String(load_default=TaskState.READY.value, validate=_codes(TaskState))
    problem = Id()
    light = fields.String(validate=_codes(Light), metadata={"description": "green, yellow, red or closed"})


class TaskPageQuery(TaskQuery, PageQuery):
    pass


TaskPage = PageOf(TaskOut, "TaskPage")


class CompleteIn(Schema):
    data = fields.Dict(keys=fields.String(), required=True)


class ProblemOut(Schema):
    id = fields.Integer()
    code = fields.String()
    title = fields.String()
    source = fields.Function(lambda p: p.source.value)
    source_label = _label("source")
    batch = fields.String()
    category = fields.Function(lambda p: p.category.value)
    category_label = _label("category")
    region = fields.Nested(Ref)
    lead_unit = fields.Nested(Ref)
    responsible = fields.Nested(OfficialRef, attribute="responsible_official")
    status = fields.Function(lambda p: p.status.value)
    status_label = _label("status")
    deadline_kind = fields.Function(lambda p: p.deadline_kind.value)
    deadline = fields.Date(allow_none=True)
    deadline_provisional = _provisional("deadline")
    overdue = fields.Function(is_overdue)
    light = _light()
    sites_total = fields.Function(lambda p: len(p.sites))
    sites_closed = fields.Function(lambda p: sum(1 for s in p.sites if s.closed_at))
    registered_at = fields.AwareDateTime()
    closed_at = fields.AwareDateTime(allow_none=True)


class ProblemPage(Schema):
    items = fields.List(fields.Nested(ProblemOut))
    total = fields.Integer()
    page = fields.Integer()
    per_page = fields.Integer()


class LightCounts(Schema):
    green = fields.Integer()
    yellow = fields.Integer()
    red = fields.Integer()
    closed = fields.Integer()
    total = fields.Integer()


class SiteOut(Schema):
    id = fields.Integer()
    name = fields.String()
    closed_at = fields.AwareDateTime(allow_none=True)


class MilestoneOut(Schema):
    id = fields.Integer()
    title = fields.String()
    due = fields.Date()
    due_provisional = _provisional("due")
    done_at = fields.AwareDateTime(allow_none=True)


class EvidenceOut(Schema):
    id = fields.Integer()
    filename = fields.String()
    content_type = fields.String()
    size = fields.Integer()
    sha256 = fields.String()
    uploaded_at = fields.AwareDateTime()


class LedgerOut(Schema):
    id = fields.Integer()
    at = fields.AwareDateTime()
    actor = fields.String(attribute="actor_name")
    action = fields.String()
    subject_type = fields.String()
    subject_id = fields.String(allow_none=True)
    payload = fields.Raw()
    request_id = fields.String(allow_none=True)  # the request it was written for (X-Request-Id)


class ProblemDetail(ProblemOut):
    description = fields.String()
    chain = fields.Function(lambda p: {
        "leading_official": OfficialRef().dump(p.leading_official) if p.leading_official else None,
        "lead_unit": Ref().dump(p.lead_unit),
        "cooperating_units": Ref(many=True).dump(p.cooperating_units),
        "responsible": OfficialRef().dump(p.responsible_official),
        "industry_unit": Ref().dump(p.industry_unit) if p.industry_unit else None,
    })
    plan = fields.Function(lambda p: {
        "target": p.target, "measures": p.measures, "deadline_kind": p.deadline_kind.value,
        "deadline_kind_label": p.deadline_kind.label,
        "deadline": p.deadline.isoformat() if p.deadline else None,
        "deadline_provisional": p.deadline is not None and _calendar().is_provisional(p.deadline),
        "milestones": MilestoneOut(many=True).dump(p.milestones),
    })
    pending_plan = fields.Function(lambda p: plans.view(p), allow_none=True, metadata={
        "description": "the plan submitted and not yet approved (待审核方案), beside the approved `plan`: "
                       "target, measures, deadline_kind, deadline, state (pending: waiting for the review; "
                       "returned: sent back, kept as what was sent back), submitted_at, task_id, and "
                       "needs_extension (its deadline is later than the plan's, or it makes a dated problem "
                       "long-term: the review cannot approve it without an approved extension request); null "
                       "when there is none"})
    sites = fields.List(fields.Nested(SiteOut))
    current_tasks = fields.List(fields.Nested(TaskOut))
    incidents = fields.List(fields.Nested(IncidentOut), metadata={
        "description": "open incidents of the problem's processes (a step that failed; see /api/incidents)"})
    evidence = fields.List(fields.Nested(EvidenceOut))
    timeline = fields.List(fields.Nested(LedgerOut))


class FindingOut(Schema):
    """One problem of a BPMN document (engine/validation)."""

    severity = fields.String(required=True, validate=validate.OneOf(["error", "warning"]),
                             metadata={"description": "an error refuses the document; a warning refuses it unless "
                                                      "accepted with a comment"})
    code = fields.String(required=True, metadata={"description": "a stable word: condition-unknown-field, "
                                                                 "gateway-not-exhaustive, timer-not-iso, ..."})
    element_id = fields.String(required=True, metadata={"description": "the BPMN element id, or `document`"})
    element_name = fields.String(required=True, allow_none=True)
    line = fields.Integer(required=True, allow_none=True, metadata={"description": "the line in the XML"})
    message = fields.String(required=True, metadata={"description": "a sentence naming the element, in English"})
    message_zh = fields.String(required=True, metadata={"description": "the same sentence in Chinese"})
    fix = fields.String(metadata={"description": "present when the finding can be mended by a known text: the "
                                                 "Duban expression for a Camunda condition (codes juel-condition, feel-condition), "
                                                 "the role to name a lane (lane-unknown-role), `true` for the "
                                                 "process's isExecutable (not-executable)"})


class CheckOut(Schema):
    findings = fields.List(fields.Nested(FindingOut), required=True)
    errors = fields.Integer(required=True, metadata={"description": "how many findings are errors"})
    warnings = fields.Integer(required=True, metadata={"description": "how many findings are warnings"})


class DefinitionOut(Schema):
    id = fields.Integer()
    key = fields.String()
    name = fields.String()
    version = fields.Integer()
    checksum = fields.String()
    deployed_by = fields.String(allow_none=True, metadata={"description": "user name; null: shipped with the release"})
    deployed_at = fields.AwareDateTime()
    user_tasks = fields.List(fields.String())
    status = fields.String(metadata={"description": "draft (stored, starts nothing) or published"})
    current = fields.Boolean(metadata={"description": "the version new problems start on: the published one "
                                                     "published last"})
    comment = fields.String(allow_none=True, metadata={"description": "版本说明, the note given at deployment"})
    published_at = fields.AwareDateTime(allow_none=True)
    published_by = fields.String(allow_none=True)
    open_instances = fields.Integer(metadata={"description": "instances running on this version (an incident's included)"})
    purpose = fields.String(allow_none=True, metadata={
        "description": "what the process is for: problem, escalation, interview or accountability; null when the "
                       "diagram declares nothing and sets no problemStatus (no problem can be registered on it)"})
    unfinished = fields.Boolean(metadata={
        "description": "an unfinished draft: a diagram kept from an upload or the editor although it cannot be "
                       "deployed yet; it is published only once its errors are gone"})
    findings = fields.List(fields.Nested(FindingOut), metadata={
        "description": "an unfinished draft's findings at its last check (its errors stop its publication); "
                       "empty for any other version"})


DefinitionPage = PageOf(DefinitionOut, "DefinitionPage")


class HeatSpotOut(Schema):
    element_id = fields.String(required=True)
    name = fields.String(allow_none=True, metadata={"description": "the element's name in the diagram"})
    waiting = fields.Integer(required=True, metadata={"description": "ready user tasks waiting at the element"})
    median_waiting_seconds = fields.Integer(required=True, attribute="median_seconds",
                                            metadata={"description": "the median time they have waited (elapsed)"})
    oldest_since = fields.AwareDateTime(required=True, metadata={"description": "when the longest waiting one opened"})


class HeatmapOut(Schema):
    """Where a version's instances wait (热力图): ready user tasks by element."""
    key = fields.String(required=True)
    version = fields.Integer(required=True)
    now = fields.AwareDateTime(required=True, metadata={"description": "the engine's clock the times are measured at"})
    waiting = fields.Integer(required=True, metadata={"description": "ready user tasks of the version in all"})
    elements = fields.List(fields.Nested(HeatSpotOut), required=True)


class WaitingProblemOut(Schema):
    task_id = fields.Integer(required=True)
    problem_id = fields.Integer(required=True)
    code = fields.String(required=True)
    title = fields.String(required=True)
    lead_unit = fields.String(allow_none=True)
    since = fields.AwareDateTime(required=True, metadata={"description": "when the task opened"})
    light = fields.String(required=True, metadata={"description": "the task's traffic light"})
    problem_light = fields.String(required=True)


class WaitingPage(Schema):
    element_id = fields.String(required=True)
    name = fields.String(allow_none=True)
    items = fields.List(fields.Nested(WaitingProblemOut), required=True)
    total = fields.Integer(required=True)
    page = fields.Integer(required=True)
    per_page = fields.Integer(required=True)


class WaitingQuery(Schema):
    page = Page()
    per_page = PerPage(50, 200)


class DeployedOut(Schema):
    id = fields.Integer(required=True)
    key = fields.String(required=True)
    version = fields.Integer(required=True)
    created = fields.Boolean(required=True, metadata={"description": "whether something was stored"})
    outcome = fields.String(required=True, metadata={"description": "created (a new version or draft), replaced "
                                                                     "(the draft's content replaced in place), unchanged"})
    status = fields.String(required=True, metadata={"description": "draft or published"})
    user_tasks = fields.List(fields.String(), required=True)


class PublishIn(Schema):
    comment = fields.String(required=True, validate=validate.Length(min=1, max=2000),
                            metadata={"description": "why it is published (or rolled back to); kept in the ledger"})
    accept_warnings = fields.Boolean(load_default=False,
                                     metadata={"description": "publish although the check warns (no errors)"})


class DiffQuery(Schema):
    older = fields.Integer(required=True, data_key="from", validate=validate.Range(min=1, max=2**31 - 1),
                           metadata={"description": "the older version"})
    newer = fields.Integer(required=True, data_key="to", validate=validate.Range(min=1, max=2**31 - 1),
                           metadata={"description": "the newer version"})


class DiffElementOut(Schema):
    id = fields.String(required=True)
    type = fields.String(required=True, metadata={"description": "the BPMN element type, e.g. userTask"})
    name = fields.String(allow_none=True)


class DiffChangeOut(Schema):
    field = fields.String(required=True, metadata={"description": "name, type, lane, condition, timer, form, "
                                                                   "property:<name>, sourceRef, targetRef, default, "
                                                                   "script, documentation, event, @<attribute>"})
    old = fields.String(allow_none=True)
    new = fields.String(allow_none=True)


class DiffChangedOut(DiffElementOut):
    changes = fields.List(fields.Nested(DiffChangeOut), required=True)


class DiffOut(Schema):
    key = fields.String(required=True)
    older = fields.Integer(required=True, data_key="from")
    newer = fields.Integer(required=True, data_key="to")
    added = fields.List(fields.Nested(DiffElementOut), required=True)
    removed = fields.List(fields.Nested(DiffElementOut), required=True)
    changed = fields.List(fields.Nested(DiffChangedOut), required=True)

