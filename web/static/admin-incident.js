// 异常流程 › an incident: draw its version's diagram with the shared dubanDiagram, the failed
// element marked, the elements the instance waits at marked as current.
(function () {
  "use strict";
  var container = document.getElementById("diagram");
  var source = document.getElementById("diagram-data");
  if (!container || !source) return;
  var data = JSON.parse(source.textContent);
  window.dubanDiagram(container, data.xml, { failed: data.failed || [], current: data.waiting || [] },
                      { errorText: container.dataset.errorText }).then(function (viewer) {
    container.dataset.state = viewer ? "ready" : "error";
  });
})();
