// 管理 › 流程定义 › 编辑: the bpmn-js modeler with the properties panel and Duban's group,
// the form-js editor in a dialog for a user task's form, 检查 (bpmnlint in the browser and the
// server's check when it exists) and 部署. Everything the page needs comes in #modeler-data.
import BpmnModeler from "bpmn-js/lib/Modeler";
import { BpmnPropertiesPanelModule, BpmnPropertiesProviderModule } from "bpmn-js-properties-panel";
import lintModule from "bpmn-js-bpmnlint";
import bpmnlintConfig from "bpmnlint-config";
import { StyleModule } from "style-mod";
import { spiffworkflow, duban } from "./moddle";
import DubanPropertiesProvider from "./properties";
import { configure, S } from "./config";
import { openFormDialog } from "./form-dialog";
import { createFindings } from "./findings";
import { TranslateModule, translate, useTable } from "./translate";

const page = document.getElementById("modeler");
const source = document.getElementById("modeler-data");

async function start() {
  const data = JSON.parse(source.textContent);
  configure(data);
  useTable(data.bpmn);
  // the form editor's CodeMirror injects one <style>: give it the page's CSP nonce
  StyleModule.mount(document, [], { nonce: page.dataset.nonce });

  const modeler = new BpmnModeler({
    container: "#canvas",
    propertiesPanel: { parent: "#properties", layout: { groups: { general: { open: true }, duban: { open: true } } } },
    linting: { bpmnlint: bpmnlintConfig, active: false },
    moddleExtensions: { spiffworkflow, duban },
    additionalModules: [
      TranslateModule, BpmnPropertiesPanelModule, BpmnPropertiesProviderModule, lintModule,
      { __init__: ["dubanPropertiesProvider"], dubanPropertiesProvider: ["type", DubanPropertiesProvider] },
    ],
  });
  const status = document.getElementById("modeler-status");
  const say = (text, kind) => { status.textContent = text; status.dataset.kind = kind || "info"; };
  try {
    const { warnings } = await modeler.importXML(data.xml);
    if (warnings.length) say(S.importWarnings.replace("%(n)s", warnings.length), "warning");
  } catch (error) {
    say(`${S.importFailed} ${error.message}`, "error");
    page.dataset.state = "failed";
    return;
  }
  // the whole diagram at most at 100 %, or its left part at 80 %, clear of the palette
  const canvas = modeler.get("canvas");
  canvas.zoom("fit-viewport");
  const scale = Math.min(1, Math.max(0.8, canvas.zoom()));
  const { inner, outer } = canvas.viewbox();
  canvas.viewbox({ x: inner.x - 110 / scale, y: inner.y - 30 / scale, width: outer.width / scale, height: outer.height / scale });

  modeler.get("eventBus").on("duban.form.edit", ({ element }) => openFormDialog(modeler, element));

  const findings = createFindings(modeler, document.getElementById("findings"));
  const errorsIn = (list) => list.filter((f) => f.severity === "error").length;
  // an unfinished draft opens with what stops its publication
  if (data.findings && data.findings.length) {
    findings.show(data.findings.map((f) => ({ source: "server", ...f })));
    say(S.unfinished.replace("%(errors)s", errorsIn(data.findings)), "error");
    page.dataset.unfinished = "true";
  }
  const xml = async () => (await modeler.saveXML({ format: true })).xml;
  const post = (url, body) => fetch(url, {
    method: "POST", body, credentials: "same-origin",
    headers: { "Content-Type": "application/xml", "Accept": "application/json", "X-CSRFToken": data.csrf },
  });

  document.querySelector('[data-action="check"]').addEventListener("click", async () => {
    say(S.checking);
    const lint = await modeler.get("linting").lint();
    const list = [];
    // bpmnlint reports by rule: {rule: [{id, message, category}]}
    Object.entries(lint).forEach(([rule, issues]) => issues.forEach((issue) => list.push({
      source: "bpmnlint", severity: issue.category === "error" ? "error" : "warning",
      code: rule, element_id: issue.id, message: translate(issue.message) })));
    let serverNote = "";
    try {
      const response = await post(data.urls.check, await xml());
      const body = await response.json();
      (body.findings || []).forEach((f) => list.push({ source: "server", ...f }));
      if (!response.ok) list.push(...findings.fromErrors(body));
    } catch (error) {
      serverNote = `${S.serverCheckFailed} ${error.message}`;
    }
    findings.show(list);
    const errors = list.filter((f) => f.severity === "error").length;
    say(`${S.checked.replace("%(errors)s", errors).replace("%(warnings)s", list.length - errors)} ${serverNote}`.trim(),
        errors ? "error" : list.length ? "warning" : "success");
    page.dataset.checked = "true";
  });

  // 部署 opens a small panel: 版本说明 (required), 保存为草稿 or 发布; a publication refused for
  // warnings alone offers 接受警告并发布 with a reason.
  const panel = document.getElementById("deploy-panel");
  const commentBox = panel.querySelector("[data-deploy-comment]");
  const missing = panel.querySelector("[data-deploy-error]");
  const warned = panel.querySelector("[data-deploy-warnings]");
  const reasonBox = panel.querySelector("[data-deploy-reason]");
  document.querySelector('[data-action="deploy"]').addEventListener("click", () => {
    panel.hidden = false;
    warned.hidden = true;
    commentBox.focus();
  });
  panel.querySelector('[data-action="cancel-deploy"]').addEventListener("click", () => { panel.hidden = true; });

  async function deploy({ draft, accept }) {
    const comment = commentBox.value.trim();
    missing.hidden = Boolean(comment);
    if (!comment) { commentBox.focus(); return; }
    const query = new URLSearchParams({ comment });
    if (draft) query.set("draft", "true");
    if (accept) {
      const reason = reasonBox.value.trim();
      if (!reason) { reasonBox.focus(); reasonBox.setAttribute("aria-invalid", "true"); return; }
      query.set("accept_warnings", "true");
      query.set("reason", reason);
    }
    say(draft ? S.savingDraft : S.deploying);
    let response, body;
    try {
      response = await post(`${data.urls.deploy}?${query}`, await xml());
      body = await response.json();
    } catch (error) {
      say(`${S.deployFailed} ${error.message}`, "error");
      return;
    }
    if (response.status === 201 || response.status === 200) {
      // a draft kept unfinished lists what still stops its publication
      findings.show(body.unfinished ? body.findings.map((f) => ({ source: "server", ...f })) : []);
      const template = body.unfinished ? S.draftUnfinished : body.outcome === "unchanged" ? S.unchanged
        : body.status === "draft" ? (body.outcome === "replaced" ? S.draftReplaced : S.draftSaved) : S.deployed;
      say(template.replace("%(key)s", body.key).replace("%(version)s", body.version)
        .replace("%(errors)s", errorsIn(body.findings || [])), body.unfinished ? "warning" : "success");
      page.dataset.unfinished = String(Boolean(body.unfinished));
      const link = document.createElement("a");
      link.href = body.url; link.textContent = S.openVersion; link.dataset.versionLink = body.version;
      const list = document.createElement("a");
      list.href = body.versions_url; list.textContent = S.openVersions; list.dataset.versionsLink = body.key;
      status.append(" ", link, " · ", list);
      page.dataset.deployed = String(body.version);
      page.dataset.deployedStatus = body.status;
      panel.hidden = true;
      warned.hidden = true;
    } else {
      // the findings when the answer has them (each with its line), else the errors by element
      const list = body.findings && body.findings.length
        ? body.findings.map((f) => ({ source: "server", ...f })) : findings.fromErrors(body);
      findings.show(list);
      say(`${S.notDeployed} ${body.message || response.status}`, "error");
      // refused for warnings alone: offer to accept them with a reason
      warned.hidden = !(response.status === 400 && !draft && body.error_count === 0 && body.warning_count > 0);
      if (!warned.hidden) reasonBox.focus();
    }
  }
  panel.querySelector('[data-action="save-draft"]').addEventListener("click", () => deploy({ draft: true }));
  panel.querySelector('[data-action="publish"]').addEventListener("click", () => deploy({ draft: false }));
  panel.querySelector('[data-action="accept-publish"]').addEventListener("click", () => deploy({ draft: false, accept: true }));

  page.dataset.state = "ready";
}

start();
