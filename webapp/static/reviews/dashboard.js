// Draws the dashboard's charts with the locally served Plotly; the tables stay as the fallback
// (and as the accessible version) when Plotly or JavaScript is unavailable.
(function () {
  "use strict";
  function draw() {
    var source = document.getElementById("chart-data");
    if (!source || !window.Plotly) { return; }
    var data = JSON.parse(source.textContent);
    var layout = { margin: { t: 20, r: 50, b: 40, l: 50 }, height: 300, legend: { orientation: "h" } };
    var config = { displayModeBar: false, responsive: true };
    if (data.trend.length) {
      var weeks = data.trend.map(function (r) { return r.week; });
      window.Plotly.newPlot("chart-trend", [
        { x: weeks, y: data.trend.map(function (r) { return r.reviews; }), type: "bar",
          name: "reviews", marker: { color: "#9fb3c8" } },
        { x: weeks, y: data.trend.map(function (r) {
            return r.negative_share === null ? null : Math.round(r.negative_share * 1000) / 10;
          }), type: "scatter", mode: "lines+markers", name: "% negative", yaxis: "y2",
          line: { color: "#c0392b" } }
      ], Object.assign({}, layout, {
        yaxis: { title: "reviews" },
        yaxis2: { title: "% negative", overlaying: "y", side: "right", rangemode: "tozero" }
      }), config);
    }
    var mentioned = data.aspects.filter(function (r) { return r.mentions > 0; });
    if (mentioned.length) {
      window.Plotly.newPlot("chart-aspects", [{
        x: mentioned.map(function (r) { return r.label; }),
        y: mentioned.map(function (r) { return Math.round(r.complaint_share * 1000) / 10; }),
        text: mentioned.map(function (r) { return r.mentions + " mentions"; }),
        type: "bar", marker: { color: "#e67e22" }, name: "% complaints"
      }], Object.assign({}, layout, { yaxis: { title: "% of mentions that complain" } }), config);
    }
    document.body.setAttribute("data-charts", "drawn");
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", draw);
  } else {
    draw();
  }
}());
