// 管理 › 流程定义 › 版本对比: the two versions side by side in bpmn-js viewers, the elements
// added (green, on the newer), removed (red, on the older) and changed (amber, on both)
// marked. bpmn-js-differ compares the two models in the browser; the server's list (#diff-data,
// which also sees Duban's properties and forms inside extensionElements, where the differ sees
// nothing) is merged in, so that every element the table names is marked. bpmn-js-differ's
// oldValue/newValue come back swapped: only the ids are read from it here.
import NavigatedViewer from "bpmn-js/lib/NavigatedViewer";
import { diff } from "bpmn-js-differ";

const source = document.getElementById("diff-data");
const page = document.getElementById("diff");

function viewer(container) {
  return new NavigatedViewer({ container });
}

function mark(bpmn, ids, className) {
  const registry = bpmn.get("elementRegistry");
  const canvas = bpmn.get("canvas");
  const marked = [];
  ids.forEach((id) => {
    if (registry.get(id)) {
      canvas.addMarker(id, className);
      marked.push(id);
    }
  });
  return marked;
}

function union(...lists) {
  return [...new Set(lists.flat())];
}

async function start() {
  const data = JSON.parse(source.textContent);
  const older = viewer(document.getElementById("diff-older"));
  const newer = viewer(document.getElementById("diff-newer"));
  try {
    await older.importXML(data.older.xml);
    await newer.importXML(data.newer.xml);
  } catch (error) {
    page.dataset.state = "failed";
    document.getElementById("diff-status").textContent = `${data.strings.failed} ${error.message}`;
    return;
  }
  const found = diff(older.getDefinitions(), newer.getDefinitions());
  const server = data.changes;
  const added = union(Object.keys(found._added), server.added);
  const removed = union(Object.keys(found._removed), server.removed);
  const changed = union(Object.keys(found._changed), server.changed).filter((id) => !added.includes(id) && !removed.includes(id));
  const marks = {
    added: mark(newer, added, "duban-diff-added"),
    removed: mark(older, removed, "duban-diff-removed"),
    changed: union(mark(older, changed, "duban-diff-changed"), mark(newer, changed, "duban-diff-changed")),
  };
  [older, newer].forEach((bpmn) => bpmn.get("canvas").zoom("fit-viewport", "auto"));
  // moving one diagram moves the other: the same place in both versions stays side by side
  let syncing = false;
  const follow = (from, to) => from.on("canvas.viewbox.changed", ({ viewbox }) => {
    if (syncing) return;
    syncing = true;
    to.get("canvas").viewbox(viewbox);
    syncing = false;
  });
  follow(older, newer);
  follow(newer, older);
  // a row of the table centres its element in both diagrams
  document.querySelectorAll("[data-diff-element]").forEach((row) => row.addEventListener("click", () => {
    const id = row.dataset.diffElement;
    [older, newer].forEach((bpmn) => {
      const element = bpmn.get("elementRegistry").get(id);
      if (element) bpmn.get("canvas").scrollToElement(element);
    });
  }));
  page.dataset.added = marks.added.join(" ");
  page.dataset.removed = marks.removed.join(" ");
  page.dataset.changed = marks.changed.join(" ");
  page.dataset.state = "ready";
}

start();
