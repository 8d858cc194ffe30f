/*
 * dubanDiagram(container, xml, marks, options): draw a BPMN diagram with bpmn-js's
 * NavigatedViewer (window.BpmnJS, from /vendor/bpmn-js/dist/bpmn-navigated-viewer.*.js) and
 * mark the path a process instance took.
 *
 *   marks.current  element ids where the work is now (ready tasks)      -> class "duban-current"
 *   marks.waiting  events waiting (a timer, a boundary event)           -> class "duban-waiting"
 *   marks.done     elements passed                                      -> class "duban-done"
 *   marks.flows    sequence flows taken                                 -> class "duban-flow"
 *   marks.failed   elements where a step failed (an incident)           -> class "duban-failed"
 *   options.errorText  what to show when the XML cannot be drawn
 *
 * Without marks it just shows the diagram (a definition's version). Drawing again into the
 * same container replaces the previous diagram. Returns a promise of the viewer; the
 * container's data-ready becomes "true" once drawn ("error" if it could not be).
 */
(function () {
  "use strict";

  var CLASSES = [["done", "duban-done"], ["flows", "duban-flow"], ["waiting", "duban-waiting"],
                 ["current", "duban-current"], ["failed", "duban-failed"]];

  function dubanDiagram(container, xml, marks, options) {
    marks = marks || {};
    options = options || {};
    if (container._dubanViewer) {
      container._dubanViewer.destroy();
    }
    container.innerHTML = "";
    container.dataset.ready = "false";
    var viewer = new window.BpmnJS({container: container});
    container._dubanViewer = viewer;
    return viewer.importXML(xml).then(function () {
      var canvas = viewer.get("canvas");
      var registry = viewer.get("elementRegistry");
      CLASSES.forEach(function (pair) {
        (marks[pair[0]] || []).forEach(function (id) {
          if (registry.get(id)) {
            canvas.addMarker(id, pair[1]);
          }
        });
      });
      canvas.zoom("fit-viewport", "auto");
      container.dataset.ready = "true";
      return viewer;
    }).catch(function (error) {
      container.dataset.ready = "error";
      var message = document.createElement("p");
      message.className = "error";
      message.textContent = options.errorText || String(error && error.message || error);
      container.appendChild(message);
      return null;
    });
  }

  window.dubanDiagram = dubanDiagram;
})();
