// 流程定义 › a version's page: draw the deployed diagram with the shared dubanDiagram (bpmn-js
// navigated viewer: pan and zoom), marking the steps where running instances wait, each with
// a badge counting the ready tasks there.
(function () {
  "use strict";
  var container = document.getElementById("diagram");
  var source = document.getElementById("diagram-data");
  if (!container || !source) return;
  var data = JSON.parse(source.textContent);
  var waiting = data.waiting || {};

  function badges(viewer) {
    var overlays = viewer.get("overlays");
    var registry = viewer.get("elementRegistry");
    Object.keys(waiting).forEach(function (elementId) {
      if (!registry.get(elementId)) return;
      var badge = document.createElement("span");
      badge.className = "waiting-badge";
      badge.dataset.waiting = elementId;
      badge.textContent = String(waiting[elementId]);
      overlays.add(elementId, { position: { top: -10, right: 10 }, html: badge });
    });
  }

  window.dubanDiagram(container, data.xml, { current: Object.keys(waiting) },
                      { errorText: container.dataset.errorText }).then(function (viewer) {
    if (!viewer) return;
    badges(viewer);
    container.dataset.state = "ready";
  });
})();
