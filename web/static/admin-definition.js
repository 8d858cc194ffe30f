// 流程定义 › a version's page: draw the deployed diagram with the shared dubanDiagram (bpmn-js
// navigated viewer: pan and zoom) as a heatmap of where the running instances wait: each step
// with waiting tasks is shaded by how many wait there (five levels up to the most waiting
// step) and carries a badge "count · median time waited"; clicking the step (or its badge)
// lists the problems waiting there under the diagram, a page at a time, from the page's
// fragment endpoint (data-waiting-url).
(function () {
  "use strict";
  var container = document.getElementById("diagram");
  var source = document.getElementById("diagram-data");
  var list = document.getElementById("waiting-list");
  if (!container || !source) return;
  var data = JSON.parse(source.textContent);
  var heat = data.heat || [];
  var byElement = {};
  var most = 0;
  heat.forEach(function (spot) {
    byElement[spot.element_id] = spot;
    most = Math.max(most, spot.waiting);
  });

  function level(count) {
    return Math.max(1, Math.min(5, Math.ceil(5 * count / most)));
  }

  function show(url) {
    if (!list) return;
    list.hidden = false;
    list.dataset.state = "loading";
    list.textContent = list.dataset.loadingText || "";
    fetch(url, { credentials: "same-origin", headers: { "Accept": "text/html" } }).then(function (response) {
      if (!response.ok) throw new Error(String(response.status));
      return response.text();
    }).then(function (html) {
      list.innerHTML = html;
      list.dataset.state = "ready";
    }).catch(function () {
      list.textContent = list.dataset.errorText || "";
      list.dataset.state = "error";
    });
  }

  function choose(elementId) {
    var url = container.dataset.waitingUrl + "?element=" + encodeURIComponent(elementId);
    show(url);
  }

  function overlays(viewer) {
    var overlayService = viewer.get("overlays");
    var registry = viewer.get("elementRegistry");
    var canvas = viewer.get("canvas");
    var titleText = container.dataset.heatTitle || "";
    heat.forEach(function (spot) {
      if (!registry.get(spot.element_id)) return;
      var heatLevel = level(spot.waiting);
      canvas.addMarker(spot.element_id, "heat-" + heatLevel);
      var badge = document.createElement("button");
      badge.type = "button";
      badge.className = "waiting-badge heat-badge heat-" + heatLevel;
      badge.dataset.waiting = spot.element_id;
      badge.dataset.count = String(spot.waiting);
      badge.dataset.medianSeconds = String(spot.median_seconds);
      badge.title = titleText.replace("{n}", spot.waiting).replace("{median}", spot.median);
      var count = document.createElement("b");
      count.textContent = String(spot.waiting);
      var median = document.createElement("span");
      median.className = "heat-median";
      median.textContent = spot.median;
      badge.appendChild(count);
      badge.appendChild(document.createTextNode(" · "));
      badge.appendChild(median);
      badge.addEventListener("click", function (event) {
        event.stopPropagation();
        choose(spot.element_id);
      });
      overlayService.add(spot.element_id, { position: { top: -14, right: 30 }, html: badge });
    });
    viewer.get("eventBus").on("element.click", function (event) {
      if (byElement[event.element.id]) choose(event.element.id);
    });
  }

  if (list) {
    list.addEventListener("click", function (event) {
      var link = event.target.closest ? event.target.closest(".pager a") : null;
      if (!link) return;
      event.preventDefault();
      show(link.getAttribute("href"));
    });
  }

  window.dubanDiagram(container, data.xml, {},
                      { errorText: container.dataset.errorText }).then(function (viewer) {
    if (!viewer) return;
    overlays(viewer);
    container.dataset.state = "ready";
  });
})();
