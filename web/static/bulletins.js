// The bulletin page's charts (ECharts): status, regions, units. The figures and the
// translated labels come from the page (#bulletin-charts); the tables beside them say the same.
(function () {
  var setup = document.getElementById("bulletin-charts");
  if (!setup || typeof echarts === "undefined") return;
  var data = JSON.parse(setup.textContent);
  var L = data.labels;
  var COLORS = { closed: "#78909c", green: "#2e7d32", yellow: "#f9a825", red: "#c62828" };
  var SERIES = ["closed", "green", "yellow", "red"];
  var charts = [];

  function draw(id, option) {
    var element = document.getElementById(id);
    if (!element) return;
    var chart = echarts.init(element, null, { renderer: "svg" });
    chart.setOption(Object.assign({ animation: false, textStyle: { fontFamily: "inherit" } }, option));
    element.dataset.ready = "true";
    charts.push(chart);
  }

  var status = data.status;
  draw("chart-status", {
    tooltip: { trigger: "item", formatter: "{b}：{c}（{d}%）" },
    legend: { bottom: 0 },
    series: [{
      type: "pie", radius: ["42%", "68%"], center: ["50%", "44%"],
      label: { formatter: "{b}\n{c}" },
      data: SERIES.map(function (key) {
        return { name: L[key], value: status[key], itemStyle: { color: COLORS[key] } };
      }).filter(function (item) { return item.value > 0; })
    }]
  });

  function stacked(rows, horizontal) {
    var names = rows.map(function (row) { return row.name; });
    var categoryAxis = { type: "category", data: names, axisLabel: { interval: 0 } };
    var valueAxis = { type: "value", minInterval: 1 };
    var rateAxis = { type: "value", min: 0, max: 100, axisLabel: { formatter: "{value}%" } };
    var series = SERIES.map(function (key) {
      return { name: L[key], type: "bar", stack: "problems", barMaxWidth: 28,
               itemStyle: { color: COLORS[key] }, data: rows.map(function (row) { return row[key]; }) };
    });
    if (!horizontal) {  // the close rate on its own axis; the units' table says theirs
      series.push({ name: L.close_rate, type: "line", symbolSize: 9, itemStyle: { color: "#0d47a1" },
                    yAxisIndex: 1, data: rows.map(function (row) { return row.close_rate; }) });
    }
    var option = { tooltip: { trigger: "axis", axisPointer: { type: "shadow" } },
                   legend: { top: 0, itemGap: 18 }, grid: { left: 8, right: 16, top: 40, bottom: 8, containLabel: true },
                   series: series };
    if (horizontal) {
      categoryAxis.inverse = true;
      option.yAxis = categoryAxis;
      option.xAxis = valueAxis;
    } else {
      option.xAxis = categoryAxis;
      option.yAxis = [valueAxis, rateAxis];
    }
    return option;
  }

  if (data.regions.length) draw("chart-regions", stacked(data.regions, false));
  if (data.units.length) draw("chart-units", stacked(data.units, true));

  window.addEventListener("resize", function () {
    charts.forEach(function (chart) { chart.resize(); });
  });
})();
