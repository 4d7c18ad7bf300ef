// The dashboard's charts (Apache ECharts, served from our own /static/vendor/echarts).
// The figures come as JSON in <script type="application/json" id="dashboard-data">, so
// the page needs no inline script (CSP script-src 'self'). A click on a bar, a point or a
// grid opens the case desk filtered the same way (each datum carries its href).
(function () {
  "use strict";
  var source = document.getElementById("dashboard-data");
  if (!source || !window.echarts) { return; }
  var data = JSON.parse(source.textContent);
  var charts = [];
  var ink = "#33414e", grid = "#e3e7ec";
  // A reader who asked for less motion gets the charts drawn at once, without growing bars.
  var STILL = !!(window.matchMedia && window.matchMedia("(prefers-reduced-motion: reduce)").matches);
  var COLOURS = ["#2f6fae", "#2e8b57", "#d08a1c", "#7b5ea7", "#c0392b", "#3a9fb0", "#8a6d3b"];

  function make(id, option, hrefOf) {
    var node = document.getElementById(id);
    if (!node) { return null; }
    var chart = echarts.init(node, null, { renderer: "canvas" });
    // Tooltips as plain text: an HTML tooltip would carry inline styles the CSP refuses.
    option.tooltip = Object.assign({ renderMode: "richText", confine: true }, option.tooltip || {});
    option.color = COLOURS;
    option.animation = !STILL;
    option.textStyle = { fontFamily: "sans-serif", color: ink };
    chart.setOption(option);
    chart.on("click", function (event) {
      var href = hrefOf(event);
      if (href) { window.location.href = href; }
    });
    charts.push(chart);
    return chart;
  }

  function axis(name, extra) {
    return Object.assign({
      name: name, nameTextStyle: { color: ink }, axisLabel: { color: ink },
      splitLine: { show: true, lineStyle: { color: grid } }
    }, extra || {});
  }

  var trend = data.trend;
  make("chart-trend", {
    tooltip: { trigger: "axis" },
    legend: { data: ["受理", "其中已办结"], top: 0 },
    grid: { left: 48, right: 16, top: 40, bottom: 56 },
    xAxis: axis(trend.unit === "日" ? "受理日期" : "受理月份",
                { type: "category", data: trend.labels, nameLocation: "middle", nameGap: 32 }),
    yAxis: axis("件数", { type: "value", minInterval: 1 }),
    series: [
      { name: "受理", type: "bar", data: trend.accepted },
      { name: "其中已办结", type: "line", data: trend.resolved, symbolSize: 6 }
    ]
  }, function (e) { return trend.hrefs[e.dataIndex]; });

  function bars(id, rows, valueName) {
    var ordered = rows.slice().sort(function (a, b) { return a.value - b.value; });
    return make(id, {
      grid: { left: 96, right: 24, top: 16, bottom: 40 },
      xAxis: axis(valueName, { type: "value", minInterval: 1, nameLocation: "middle", nameGap: 26 }),
      yAxis: { type: "category", data: ordered.map(function (r) { return r.name; }),
               axisLabel: { color: ink } },
      series: [{ type: "bar", name: valueName, data: ordered.map(function (r) {
        return { value: r.value, href: r.href };
      }), label: { show: true, position: "right" } }]
    }, function (e) { return e.data && e.data.href; });
  }
  bars("chart-category", data.category, "受理件数");
  bars("chart-channel", data.channel, "受理件数");
  bars("chart-handling", data.handling, "办结件数");

  var map = data.map, mapChart = null;
  function mapOption(metric) {
    var values = map.data.map(function (d) { return d[metric]; });
    return {
      tooltip: { trigger: "item", formatter: function (p) {
        var d = p.data || {};
        return p.name + "\n受理 " + (d.accepted || 0) + " 件，当前超时 " + (d.overdue || 0) + " 件";
      } },
      visualMap: { min: 0, max: Math.max.apply(null, values.concat([1])), calculable: false,
                   orient: "horizontal", left: "center", bottom: 0, itemWidth: 12,
                   text: ["多", "少"], inRange: { color: metric === "overdue"
                     ? ["#fbeee6", "#c0392b"] : ["#e8f1fa", "#2f6fae"] } },
      series: [{ type: "map", map: "minsheng-grids", roam: false, top: 8, bottom: 48,
                 label: { show: true, fontSize: 10, color: ink },
                 data: map.data.map(function (d) {
                   return { name: d.name, value: d[metric], accepted: d.accepted,
                            overdue: d.overdue, href: d.href };
                 }) }]
    };
  }
  if (map.data.length && document.getElementById("chart-map")) {
    echarts.registerMap("minsheng-grids", map.geo);
    mapChart = make("chart-map", mapOption("accepted"),
                    function (e) { return e.data && e.data.href; });
  }
  var switches = document.querySelectorAll(".metric-switch button");
  Array.prototype.forEach.call(switches, function (button) {
    button.addEventListener("click", function () {
      if (!mapChart) { return; }
      mapChart.setOption(mapOption(button.dataset.metric));
      Array.prototype.forEach.call(switches, function (b) {
        b.setAttribute("aria-pressed", String(b === button));
      });
    });
  });

  window.addEventListener("resize", function () {
    charts.forEach(function (c) { c.resize(); });
  });
})();
