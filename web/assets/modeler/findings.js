// The list under the diagram: one row per finding (bpmnlint, the server's check, a refused
// deployment), each element marked on the canvas with a badge; a click on a row selects it.
// A finding the server can mend (`fix`: a JUEL condition's translation, a lane's role, a
// process to mark executable) has a 采用建议 button that applies it as one undoable command.
import { S } from "./config";

/** Where a finding's fix goes: the flow's condition, the lane's name, the process's isExecutable. */
export function applyFix(modeler, finding) {
  const registry = modeler.get("elementRegistry");
  const modeling = modeler.get("modeling");
  let element = registry.get(finding.element_id);
  if (!element && finding.code === "not-executable") {
    // a process inside a pool: its participant stands for it on the canvas
    element = registry.filter((e) => e.businessObject.processRef && e.businessObject.processRef.id === finding.element_id)[0];
  }
  if (!element) return false;
  const bo = element.businessObject;
  if (finding.code === "not-executable") {
    const process = bo.processRef || bo;
    modeling.updateModdleProperties(element, process, { isExecutable: finding.fix === "true" });
  } else if (bo.$type === "bpmn:SequenceFlow") {
    modeling.updateProperties(element, {
      conditionExpression: modeler.get("bpmnFactory").create("bpmn:FormalExpression", { body: finding.fix }) });
  } else if (bo.$type === "bpmn:Lane") {
    modeling.updateProperties(element, { name: finding.fix });
  } else {
    return false;
  }
  return true;
}

export function createFindings(modeler, list) {
  const canvas = modeler.get("canvas");
  const overlays = modeler.get("overlays");
  const registry = modeler.get("elementRegistry");
  const selection = modeler.get("selection");
  let marked = [];
  const chinese = (document.documentElement.lang || "").startsWith("zh");

  function clear() {
    marked.forEach((id) => { canvas.removeMarker(id, "duban-finding-error"); canvas.removeMarker(id, "duban-finding-warning"); });
    overlays.remove({ type: "duban-finding" });
    marked = [];
  }

  function show(findings) {
    clear();
    list.replaceChildren();
    list.dataset.count = String(findings.length);
    const counts = {};
    findings.forEach((f) => {
      const row = document.createElement("li");
      row.className = `finding ${f.severity}`;
      row.dataset.finding = f.code || "";
      row.dataset.severity = f.severity;
      const element = f.element_id && registry.get(f.element_id);
      if (f.element_id) row.dataset.elementId = f.element_id;
      const where = f.element_id ? `${f.element_name || (element && element.businessObject.name) || ""} ${f.element_id}`.trim() : S.document;
      const tag = document.createElement("span");
      tag.className = "tag";
      tag.textContent = f.severity === "error" ? S.error : S.warning;
      const place = document.createElement("b");
      place.textContent = where + (f.line ? ` · ${S.line} ${f.line}` : "");
      const text = document.createElement("span");
      // the server's sentence in the page's language (bpmnlint's through the editor's table, translate.js)
      const message = (chinese && f.message_zh) || f.message;
      text.textContent = ` ${message}` + (f.code ? ` (${f.source === "bpmnlint" ? "bpmnlint " : ""}${f.code})` : "");
      row.append(tag, " ", place, text);
      if (f.fix !== undefined && f.fix !== null) {
        row.dataset.fix = f.fix;
        const suggestion = document.createElement("code");
        suggestion.className = "fix";
        suggestion.textContent = f.code === "not-executable" ? "isExecutable=\"true\"" : f.fix;
        const button = document.createElement("button");
        button.type = "button";
        button.className = "apply-fix";
        button.dataset.action = "apply-fix";
        button.textContent = S.applyFix;
        button.addEventListener("click", (event) => {
          event.stopPropagation();
          if (applyFix(modeler, f)) {
            button.disabled = true;
            button.textContent = S.fixApplied;
            row.dataset.applied = "true";
          }
        });
        row.append(" ", suggestion, " ", button);
      }
      if (element) {
        row.tabIndex = 0;
        row.classList.add("selectable");
        const pick = () => { selection.select(element); canvas.scrollToElement(element); };
        row.addEventListener("click", pick);
        row.addEventListener("keydown", (e) => { if (e.key === "Enter") pick(); });
        const marker = f.severity === "error" ? "duban-finding-error" : "duban-finding-warning";
        if (!(element.waypoints)) canvas.addMarker(element, marker);
        marked.push(element.id);
        counts[element.id] = (counts[element.id] || 0) + 1;
      }
      list.append(row);
    });
    Object.entries(counts).forEach(([id, n]) => {
      const badge = document.createElement("span");
      badge.className = "duban-finding-badge";
      badge.dataset.findingBadge = id;
      badge.textContent = String(n);
      overlays.add(id, "duban-finding", { position: { top: -8, left: -8 }, html: badge });
    });
  }

  /** A 400's `errors` ({element id: [messages]}) as findings. */
  function fromErrors(body) {
    return Object.entries((body && body.errors) || {}).flatMap(([id, messages]) => messages.map((message) => ({
      source: "server", severity: "error", code: body.code || "invalid",
      element_id: ["document", "file"].includes(id) ? null : id, message })));
  }

  return { show, fromErrors, clear };
}
