// 督办看板: draws each breakdown (problems by region, lead unit, source, batch) as a stacked
// bar chart by light from the figures the page embeds; the tables stay beneath, folded.
(function () {
  "use strict";
  var source = document.getElementById("dashboard-data");
  if (!source || typeof echarts === "undefined") return;
  var data = JSON.parse(source.textContent);
  var colours = { red: "#c62828", yellow: "#f9a825", green: "#2e7d32", closed: "#90a4ae" };
  var order = ["red", "yellow", "green", "closed"];
  var charts = [];

  document.querySelectorAll("[data-chart]").forEach(function (element) {
    var chart = data.charts[element.dataset.chart];
    if (!chart || !chart.categories.length) return;
    // the largest bar on top: ECharts draws a category axis from the bottom
    var categories = chart.categories.slice().reverse();
    var instance = echarts.init(element, null, { renderer: "svg" });
    instance.setOption({
      animation: false,
      color: order.map(function (light) { return colours[light]; }),
      tooltip: { trigger: "axis", axisPointer: { type: "shadow" } },
      legend: { top: 0, data: order.map(function (light) { return data.labels[light]; }) },
      grid: { left: 8, right: 24, top: 32, bottom: 8, containLabel: true },
      xAxis: { type: "value", minInterval: 1 },
      yAxis: { type: "category", data: categories, axisLabel: { width: 160, overflow: "truncate" } },
      series: order.map(function (light) {
        return {
          name: data.labels[light], type: "bar", stack: "problems", barMaxWidth: 22,
          label: { show: true, formatter: function (p) { return p.value ? p.value : ""; } },
          data: chart.series[light].slice().reverse()
        };
      })
    });
    // a bar leads to the ledger (整改台账) filtered to its problems
    var links = (chart.links || []).slice().reverse();
    instance.on("click", function (params) {
      var target = links[params.dataIndex];
      if (target) window.location.href = target;
    });
    element.dataset.rendered = "true";
    var table = element.parentNode.querySelector("details.chart-data");
    if (table) table.open = false;  // the figures stay one click away
    charts.push(instance);
  });
  window.addEventListener("resize", function () {
    charts.forEach(function (instance) { instance.resize(); });
  });
})();
