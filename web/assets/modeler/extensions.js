// Reading and writing what Duban reads from a diagram, the way the shipped diagrams store it:
// <bpmn:extensionElements><spiffworkflow:properties><spiffworkflow:property name value/>…
// and <duban:form>{form-js schema}</duban:form>. Every write is one command (undo undoes it).
import { is } from "bpmn-js/lib/util/ModelUtil";

const MULTI = "properties-panel.multi-command-executor";

function extensionsOf(bo) {
  const ext = bo.get("extensionElements");
  return ext ? ext.get("values") : [];
}

function container(bo) {
  return extensionsOf(bo).find((v) => is(v, "spiffworkflow:Properties"));
}

/** A property of the element, or of `bo` when given (a participant's process). */
export function getProperty(element, name, bo = element.businessObject) {
  const props = container(bo);
  const found = props && props.get("properties").find((p) => p.name === name);
  return found ? found.value || "" : "";
}

export function getForm(element) {
  const form = extensionsOf(element.businessObject).find((v) => is(v, "duban:Form"));
  return form ? form.value || "" : "";
}

// the commands that make sure extensionElements exists and holds `child` (created if missing)
function ensureExtension(element, bpmnFactory, commands, bo = element.businessObject) {
  let ext = bo.get("extensionElements");
  if (!ext) {
    ext = bpmnFactory.create("bpmn:ExtensionElements", { values: [] });
    ext.$parent = bo;
    commands.push({ cmd: "element.updateModdleProperties",
                    context: { element, moddleElement: bo, properties: { extensionElements: ext } } });
  }
  return ext;
}

function appendTo(element, ext, child, commands) {
  child.$parent = ext;
  commands.push({ cmd: "element.updateModdleProperties",
                  context: { element, moddleElement: ext, properties: { values: [...ext.get("values"), child] } } });
}

/** Set several properties at once (of `bo` when given); an empty value removes the property. */
export function setProperties(injector, element, changes, bo = element.businessObject) {
  const bpmnFactory = injector.get("bpmnFactory");
  const commands = [];
  const ext = ensureExtension(element, bpmnFactory, commands, bo);
  let props = container(bo);
  const current = props ? [...props.get("properties")] : [];
  let list = current.slice();
  let listChanged = false;
  for (const [name, raw] of Object.entries(changes)) {
    const value = (raw || "").trim();
    const existing = list.find((p) => p.name === name);
    if (!value) {
      if (existing) { list = list.filter((p) => p !== existing); listChanged = true; }
    } else if (existing) {
      if (existing.value !== value) {
        commands.push({ cmd: "element.updateModdleProperties",
                        context: { element, moddleElement: existing, properties: { value } } });
      }
    } else {
      list.push(bpmnFactory.create("spiffworkflow:Property", { name, value }));
      listChanged = true;
    }
  }
  if (!props && list.length) {
    props = bpmnFactory.create("spiffworkflow:Properties", { properties: [] });
    appendTo(element, ext, props, commands);
  }
  if (props && listChanged) {
    list.forEach((p) => { p.$parent = props; });
    commands.push({ cmd: "element.updateModdleProperties",
                    context: { element, moddleElement: props, properties: { properties: list } } });
  }
  if (commands.length) injector.get("commandStack").execute(MULTI, commands);
}

/** Replace the task's inline form (a form-js schema as JSON text); empty text removes it. */
export function setForm(injector, element, text) {
  const bpmnFactory = injector.get("bpmnFactory");
  const commands = [];
  const ext = ensureExtension(element, bpmnFactory, commands);
  const form = ext.get("values").find((v) => is(v, "duban:Form"));
  if (!text) {
    if (form) commands.push({ cmd: "element.updateModdleProperties",
                              context: { element, moddleElement: ext, properties: { values: ext.get("values").filter((v) => v !== form) } } });
  } else if (form) {
    commands.push({ cmd: "element.updateModdleProperties", context: { element, moddleElement: form, properties: { value: text } } });
  } else {
    appendTo(element, ext, bpmnFactory.create("duban:Form", { value: text }), commands);
  }
  if (commands.length) injector.get("commandStack").execute(MULTI, commands);
}

export function parseForm(text) {
  if (!text) return null;
  try { return JSON.parse(text); } catch (e) { return null; }
}

/** Every input field of a form-js schema (groups opened), as {key, label, values}. */
export function formFields(schema) {
  const fields = [];
  (function walk(components) {
    (components || []).forEach((c) => {
      if (c.key) fields.push({ key: c.key, label: c.label || c.key, values: (c.values || []).map((v) => v.value) });
      if (c.components) walk(c.components);
    });
  })(schema && schema.components);
  return fields;
}

/** The form fields a gateway can test: those of the user tasks on any path leading to it. */
export function fieldsInReach(gateway) {
  const seen = new Set();
  const found = new Map();
  const queue = [gateway.businessObject];
  while (queue.length) {
    const node = queue.shift();
    if (!node || seen.has(node.id)) continue;
    seen.add(node.id);
    if (is(node, "bpmn:UserTask") || is(node, "bpmn:ManualTask")) {
      const form = extensionsOf(node).find((v) => is(v, "duban:Form"));
      formFields(parseForm(form && form.value)).forEach((f) => {
        if (!found.has(f.key)) found.set(f.key, { ...f, task: node.name || node.id });
      });
    }
    (node.get ? node.get("incoming") || [] : []).forEach((flow) => queue.push(flow.sourceRef));
    if (node.attachedToRef) queue.push(node.attachedToRef);
  }
  return [...found.values()];
}

export { is };
