// The 督办 (Duban) group of the properties panel: what Duban reads from each kind of element
// (bpmn/README.md, "The conventions Duban reads"), with helpers that write valid values.
import { useState } from "@bpmn-io/properties-panel/preact/hooks";
import {
  CheckboxEntry, SelectEntry, TextAreaEntry, TextFieldEntry,
  isCheckboxEntryEdited, isSelectEntryEdited, isTextAreaEntryEdited, isTextFieldEntryEdited,
} from "@bpmn-io/properties-panel";
import { useService } from "bpmn-js-properties-panel";
import { fieldsInReach, formFields, getForm, getProperty, is, parseForm, setForm, setProperties } from "./extensions";
import { S, V, isoBeijing, isoDuration } from "./config";

const TASKS = ["bpmn:UserTask", "bpmn:ManualTask"];
const PASSING = ["bpmn:Event", "bpmn:Gateway", "bpmn:UserTask", "bpmn:ManualTask"];
const TIMER_KINDS = ["timeDuration", "timeDate", "timeCycle"];

const isAny = (element, types) => types.some((t) => is(element, t));
const options = (list) => [{ value: "", label: S.none }, ...list.map((o) => ({ value: o.value, label: o.label }))];

function PropText(props) {
  const { element, id, name, label, description } = props;
  const injector = useService("injector");
  const debounce = useService("debounceInput");
  return <TextFieldEntry element={element} id={id} label={label} description={description} debounce={debounce}
    getValue={() => getProperty(element, name)} setValue={(v) => setProperties(injector, element, { [name]: v })} />;
}

function PropTextArea(props) {
  const { element, id, name, label, description } = props;
  const injector = useService("injector");
  const debounce = useService("debounceInput");
  return <TextAreaEntry element={element} id={id} label={label} description={description} debounce={debounce} rows={2}
    getValue={() => getProperty(element, name)} setValue={(v) => setProperties(injector, element, { [name]: v })} />;
}

function PropSelect(props) {
  const { element, id, name, label, choices } = props;
  const injector = useService("injector");
  return <SelectEntry element={element} id={id} label={label} getOptions={() => options(choices)}
    getValue={() => getProperty(element, name)} setValue={(v) => setProperties(injector, element, { [name]: v })} />;
}

function WorkingDays(props) {
  const { element, id } = props;
  const injector = useService("injector");
  return <CheckboxEntry element={element} id={id} label={S.workingDays}
    getValue={() => getProperty(element, "calendar") === "working"}
    setValue={(v) => setProperties(injector, element, { calendar: v ? "working" : "" })} />;
}

/** Comma-separated choices as check boxes (notify targets, plan fields). */
function PropChecklist(props) {
  const { element, id, name, label, choices } = props;
  const injector = useService("injector");
  const chosen = getProperty(element, name).split(",").map((s) => s.trim()).filter(Boolean);
  const toggle = (value, on) => {
    const next = on ? [...chosen.filter((c) => c !== value), value] : chosen.filter((c) => c !== value);
    setProperties(injector, element, { [name]: choices.map((c) => c.value).filter((v) => next.includes(v)).join(",") });
  };
  return <div class="bio-properties-panel-entry duban-checklist" data-entry-id={id}>
    <span class="bio-properties-panel-label">{label}</span>
    {choices.map((c) => <label class="duban-check" key={c.value}>
      <input type="checkbox" name={`${id}-${c.value}`} value={c.value} checked={chosen.includes(c.value)}
        onChange={(e) => toggle(c.value, e.target.checked)} /> {c.label}</label>)}
  </div>;
}

/** Amount + unit → an ISO 8601 duration written by `onWrite(text, working)`. */
function DurationHelper({ id, onWrite, cycle, deadline }) {
  const [amount, setAmount] = useState("5");
  const [unit, setUnit] = useState("workday");
  const units = [["workday", S.unitWorkday], ["day", S.unitDay], ["hour", S.unitHour], ["month", S.unitMonth]];
  const write = () => {
    const text = isoDuration(amount, unit);
    if (text) onWrite((cycle ? "R/" : "") + text, unit === "workday");
  };
  return <div class="bio-properties-panel-entry duban-helper" data-entry-id={id}>
    <span class="bio-properties-panel-label">{cycle ? S.cycleHelper : S.durationHelper}</span>
    <div class="duban-helper-row">
      <input type="number" min="1" class="bio-properties-panel-input" value={amount} aria-label={S.amount}
        data-helper="amount" onInput={(e) => setAmount(e.target.value)} />
      <select class="bio-properties-panel-input" value={unit} aria-label={S.unit} data-helper="unit"
        onChange={(e) => setUnit(e.target.value)}>
        {units.map(([value, text]) => <option value={value} key={value}>{text}</option>)}
      </select>
      <button type="button" class="duban-small" data-helper="apply" onClick={write}>{S.apply}</button>
    </div>
    {deadline && <button type="button" class="duban-small" data-helper="deadline" onClick={() => onWrite("deadline", null)}>{S.useDeadline}</button>}
  </div>;
}

function DueHelper({ element, id }) {
  const injector = useService("injector");
  return <DurationHelper id={id} deadline onWrite={(text, working) => setProperties(injector, element,
    working === null ? { due: text } : { due: text, calendar: working ? "working" : "" })} />;
}

function FormEntry({ element, id }) {
  const eventBus = useService("eventBus");
  const injector = useService("injector");
  const schema = parseForm(getForm(element));
  const fields = formFields(schema);
  return <div class="bio-properties-panel-entry duban-form-entry" data-entry-id={id}>
    <span class="bio-properties-panel-label">{S.form}</span>
    <p class="duban-summary" data-form-summary>{schema ? `${S.fields}: ${fields.map((f) => f.key).join(", ") || "—"}` : S.noForm}</p>
    <button type="button" class="duban-small" data-action="edit-form" onClick={() => eventBus.fire("duban.form.edit", { element })}>{S.editForm}</button>
    {schema && <button type="button" class="duban-small" data-action="remove-form" onClick={() => setForm(injector, element, "")}>{S.removeForm}</button>}
  </div>;
}

function LaneRole({ element, id }) {
  const modeling = useService("modeling");
  const choices = V.roles.map((r) => ({ value: r.lane, label: `${r.lane}（${r.label}）` }));
  return <SelectEntry element={element} id={id} label={S.laneRole} description={S.laneRoleHint}
    getOptions={() => {
      const name = element.businessObject.name || "";
      const known = choices.some((c) => c.value === name);
      return [{ value: "", label: S.chooseRole }, ...(known || !name ? [] : [{ value: name, label: `${name}（${S.unknownRole}）` }]), ...choices];
    }}
    getValue={() => element.businessObject.name || ""}
    setValue={(v) => modeling.updateProperties(element, { name: v || undefined })} />;
}

/** approvesPlan: the options of this task's own form, each a chip writing `field=value`. */
function ApprovalChoices({ element, id }) {
  const injector = useService("injector");
  const fields = formFields(parseForm(getForm(element))).filter((f) => f.values.length);
  return <div class="bio-properties-panel-entry duban-fields" data-entry-id={id}>
    <span class="bio-properties-panel-label">{S.approvesPlanChoices}</span>
    {fields.length === 0 && <p class="duban-summary">{S.noChoices}</p>}
    <ul class="duban-field-list">
      {fields.map((f) => <li key={f.key} data-field={f.key}>
        <span class="duban-field-label">{f.label}</span>
        {f.values.map((v) => <button type="button" class="duban-chip" key={v} data-value={v}
          onClick={() => setProperties(injector, element, { approvesPlan: `${f.key}=${v}` })}>{`${f.key}=${v}`}</button>)}
      </li>)}
    </ul>
  </div>;
}

// --- timers -------------------------------------------------------------------------------
function timerOf(element) {
  return (element.businessObject.eventDefinitions || []).find((d) => is(d, "bpmn:TimerEventDefinition"));
}

function timerKind(definition) {
  return TIMER_KINDS.find((k) => definition.get(k)) || "timeDuration";
}

function setTimer(injector, element, definition, kind, text) {
  const properties = { timeDuration: undefined, timeDate: undefined, timeCycle: undefined };
  if (text) properties[kind] = injector.get("bpmnFactory").create("bpmn:FormalExpression", { body: text });
  injector.get("modeling").updateModdleProperties(element, definition, properties);
}

function timerText(definition) {
  const expression = definition.get(timerKind(definition));
  return expression ? expression.body || "" : "";
}

function TimerKind({ element, id }) {
  const injector = useService("injector");
  const definition = timerOf(element);
  return <SelectEntry element={element} id={id} label={S.timerKind}
    getOptions={() => [{ value: "timeDuration", label: S.timeDuration }, { value: "timeDate", label: S.timeDate },
                       { value: "timeCycle", label: S.timeCycle }]}
    getValue={() => timerKind(definition)}
    setValue={(kind) => setTimer(injector, element, definition, kind, timerText(definition))} />;
}

function TimerValue({ element, id }) {
  const injector = useService("injector");
  const debounce = useService("debounceInput");
  const definition = timerOf(element);
  return <TextFieldEntry element={element} id={id} label={S.timerValue} description={S.timerHint} debounce={debounce}
    getValue={() => timerText(definition)}
    setValue={(v) => setTimer(injector, element, definition, timerKind(definition), v)} />;
}

function TimerHelper({ element, id }) {
  const injector = useService("injector");
  const definition = timerOf(element);
  const kind = timerKind(definition);
  const [moment, setMoment] = useState("");
  if (kind === "timeDate") {
    return <div class="bio-properties-panel-entry duban-helper" data-entry-id={id}>
      <span class="bio-properties-panel-label">{S.dateHelper}</span>
      <div class="duban-helper-row">
        <input type="datetime-local" class="bio-properties-panel-input" value={moment} aria-label={S.timeDate}
          data-helper="moment" onInput={(e) => setMoment(e.target.value)} />
        <button type="button" class="duban-small" data-helper="apply"
          onClick={() => { const t = isoBeijing(moment); if (t) setTimer(injector, element, definition, kind, t); }}>{S.apply}</button>
      </div>
    </div>;
  }
  return <DurationHelper id={id} cycle={kind === "timeCycle"} onWrite={(text, working) => {
    setTimer(injector, element, definition, kind, text);
    setProperties(injector, element, { calendar: working ? "working" : "" });
  }} />;
}

// --- conditions ---------------------------------------------------------------------------
function conditionOf(element) {
  const expression = element.businessObject.conditionExpression;
  return expression ? expression.body || "" : "";
}

function setCondition(injector, element, text) {
  const value = (text || "").trim();
  injector.get("modeling").updateProperties(element, {
    conditionExpression: value ? injector.get("bpmnFactory").create("bpmn:FormalExpression", { body: value }) : undefined });
}

function Condition({ element, id }) {
  const injector = useService("injector");
  const debounce = useService("debounceInput");
  return <TextAreaEntry element={element} id={id} label={S.condition} description={S.conditionHint} debounce={debounce} rows={2}
    getValue={() => conditionOf(element)} setValue={(v) => setCondition(injector, element, v)} />;
}

function FieldsInReach({ element, id }) {
  const injector = useService("injector");
  const fields = fieldsInReach(element.source || { businessObject: element.businessObject.sourceRef });
  const insert = (text) => {
    const current = conditionOf(element).trim();
    setCondition(injector, element, current ? `${current} and ${text}` : text);
  };
  return <div class="bio-properties-panel-entry duban-fields" data-entry-id={id}>
    <span class="bio-properties-panel-label">{S.fieldsInReach}</span>
    {fields.length === 0 && <p class="duban-summary">{S.noFields}</p>}
    <ul class="duban-field-list">
      {fields.map((f) => <li key={f.key} data-field={f.key}>
        <button type="button" class="duban-chip" title={`${f.label} · ${f.task}`} onClick={() => insert(`${f.key} == ""`)}>{f.key}</button>
        <span class="duban-field-label">{f.label}</span>
        {f.values.map((v) => <button type="button" class="duban-chip" key={v} data-value={v}
          onClick={() => insert(`${f.key} == ${JSON.stringify(v)}`)}>{`== "${v}"`}</button>)}
      </li>)}
    </ul>
  </div>;
}

// --- the process: its purpose, and executable (Camunda 7 diagrams come with isExecutable="false")
/** The process a selection stands for: the process itself (the canvas of a diagram without
 * pools), a participant's process, or the canvas of a collaboration with one pool. */
function processOf(element) {
  const bo = element.businessObject;
  if (is(element, "bpmn:Process")) return bo;
  if (is(element, "bpmn:Participant")) return bo.processRef || null;
  if (is(element, "bpmn:Collaboration")) {
    const pools = (bo.get("participants") || []).filter((p) => p.processRef);
    return pools.length === 1 ? pools[0].processRef : null;
  }
  return null;
}

function Purpose({ element, id }) {
  const injector = useService("injector");
  const process = processOf(element);
  return <SelectEntry element={element} id={id} label={S.purpose} description={S.purposeHint}
    getOptions={() => options(V.purposes)}
    getValue={() => getProperty(element, "purpose", process)}
    setValue={(v) => setProperties(injector, element, { purpose: v }, process)} />;
}

function Executable({ element, id }) {
  const injector = useService("injector");
  return <CheckboxEntry element={element} id={id} label={S.executable} description={S.executableHint}
    getValue={() => !!processOf(element).isExecutable}
    setValue={(v) => injector.get("modeling").updateModdleProperties(element, processOf(element), { isExecutable: v })} />;
}

// --- the group ----------------------------------------------------------------------------
function entriesFor(element) {
  const entries = [];
  const edited = { text: isTextFieldEntryEdited, area: isTextAreaEntryEdited, select: isSelectEntryEdited, check: isCheckboxEntryEdited };
  const add = (id, component, extra = {}, isEdited) => entries.push({ id: `duban-${id}`, component, isEdited, ...extra });
  if (processOf(element)) add("purpose", Purpose, {}, edited.select);
  if (is(element, "bpmn:Lane")) add("lane-role", LaneRole, {}, edited.select);
  if ((is(element, "bpmn:Process") || is(element, "bpmn:Participant")) && processOf(element)) {
    add("executable", Executable, {}, edited.check);
  }
  if (isAny(element, TASKS)) {
    add("due", PropText, { name: "due", label: S.due, description: S.dueHint }, edited.text);
    add("due-helper", DueHelper);
    add("calendar", WorkingDays, {}, edited.check);
    add("form", FormEntry);
  }
  if (timerOf(element)) {
    add("timer-kind", TimerKind, {}, edited.select);
    add("timer-value", TimerValue, {}, edited.text);
    add("timer-helper", TimerHelper);
    if (!isAny(element, TASKS)) add("calendar", WorkingDays, {}, edited.check);
  }
  if (is(element, "bpmn:SequenceFlow") && element.businessObject.sourceRef
      && isAny(element.businessObject.sourceRef, ["bpmn:ExclusiveGateway", "bpmn:InclusiveGateway"])) {
    add("condition", Condition, {}, edited.area);
    add("fields", FieldsInReach);
  }
  if (isAny(element, TASKS) || is(element, "bpmn:CatchEvent")) {
    add("problem-status", PropSelect, { name: "problemStatus", label: S.problemStatus, choices: V.statuses }, edited.select);
  }
  if (isAny(element, TASKS)) {
    add("updates-problem", PropChecklist, { name: "updatesProblem", label: S.updatesProblem, choices: V.planFields });
    if (is(element, "bpmn:UserTask")) {
      add("approves-plan", PropText, { name: "approvesPlan", label: S.approvesPlan, description: S.approvesPlanHint }, edited.text);
      add("approves-plan-choices", ApprovalChoices);
    }
    add("records", PropSelect, { name: "records", label: S.records, choices: V.records }, edited.select);
  }
  if (isAny(element, PASSING)) {
    add("notify", PropChecklist, { name: "notify", label: S.notify, choices: V.targets });
    add("notify-message", PropTextArea, { name: "notifyMessage", label: S.notifyMessage, description: S.notifyMessageHint }, edited.area);
    add("escalation-event", PropSelect, { name: "escalationEvent", label: S.escalationEvent, choices: V.events }, edited.select);
  }
  return entries;
}

export default function DubanPropertiesProvider(propertiesPanel) {
  propertiesPanel.registerProvider(500, this);
}
DubanPropertiesProvider.prototype.getGroups = function (element) {
  return (groups) => {
    const entries = entriesFor(element);
    if (entries.length) {
      const at = groups.findIndex((g) => g.id === "general");
      groups.splice(at + 1, 0, { id: "duban", label: S.group, entries });
    }
    return groups;
  };
};
DubanPropertiesProvider.$inject = ["propertiesPanel"];
