// The problem page's process diagram (data in <script id="diagram-data" type="application/json">),
// and the tabs that switch between the problem's processes.
(function () {
  var container = document.getElementById("diagram");
  var data = document.getElementById("diagram-data");
  if (!container || !data) return;
  function draw(data) {
    container.dataset.instanceId = data.instance_id;
    return window.dubanDiagram(container, data.xml, data, {errorText: container.dataset.errorText});
  }
  draw(JSON.parse(data.textContent));
  document.querySelectorAll(".process-tabs [data-diagram-url]").forEach(function (tab) {
    tab.addEventListener("click", function (event) {
      event.preventDefault();
      fetch(tab.dataset.diagramUrl, {headers: {"Accept": "application/json"}, credentials: "same-origin"})
        .then(function (response) {
          if (!response.ok) throw new Error(response.status);
          return response.json();
        })
        .then(function (data) {
          document.querySelectorAll(".process-tabs [data-diagram-url]").forEach(function (other) {
            var chosen = other === tab;
            other.classList.toggle("selected", chosen);
            other.setAttribute("aria-selected", chosen ? "true" : "false");
          });
          history.replaceState(null, "", tab.href);
          return draw(data);
        })
        .catch(function () {
          container.dataset.ready = "error";
          container.textContent = container.dataset.errorText;
        });
    });
  });
})();
