// 热点问题: fetches /api/hotspots and draws the list in #hotspots (web/templates/_hotspots.html).
// Text goes in with textContent only: places and case numbers come from residents' reports.
(function () {
  "use strict";
  var box = document.getElementById("hotspots");
  if (!box) return;
  var list = document.getElementById("hotspots-list");
  var status = document.getElementById("hotspots-status");
  var ARROWS = { up: "▲", down: "▼", flat: "＝", "new": "●" };

  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function link(href, text, label) {
    var a = el("a", "", text);
    a.href = href;
    if (label) a.setAttribute("aria-label", label);
    return a;
  }

  function trendText(spot) {
    if (spot.trend === "new") return "新出现（上期无同类反映）";
    return "较上期" + spot.trend_label + "（上期 " + spot.previous + " 次）";
  }

  function item(spot) {
    var li = el("li", "hotspot hotspot-" + spot.trend);
    var head = el("p", "hotspot-head");
    head.appendChild(el("span", "hotspot-count", spot.reports + " 次"));
    head.appendChild(el("strong", "hotspot-place", spot.place));
    head.appendChild(el("span", "badge hotspot-category", spot.category_label));
    li.appendChild(head);
    var trend = el("p", "hotspot-trend");
    trend.appendChild(el("span", "hotspot-arrow", ARROWS[spot.trend] || ""));
    trend.appendChild(document.createTextNode(" " + trendText(spot) + "；逐周反映（右为本周）："
      + spot.weekly.join("、")));
    li.appendChild(trend);
    li.appendChild(el("p", "hint", "首次 " + spot.first_at_local + "，最近 " + spot.last_at_local
      + (spot.grid_name ? "，" + spot.grid_name : "")));
    var cases = el("p", "hotspot-cases");
    cases.appendChild(link(spot.desk_url, "在工单台查看", "在工单台查看" + spot.place + "的"
      + spot.category_label + "工单"));
    spot.case_nos.forEach(function (no) {
      cases.appendChild(document.createTextNode(" "));
      cases.appendChild(link(spot.case_urls[no], no));
    });
    li.appendChild(cases);
    return li;
  }

  function show(data) {
    // when the list was found: the scheduler's last snapshot, or just now
    document.getElementById("hotspots-window").textContent = "近 " + data.days + " 天 · "
      + data.computed_at_local + " 更新";
    list.textContent = "";
    data.items.forEach(function (spot) { list.appendChild(item(spot)); });
    status.textContent = data.items.length
      ? "共 " + data.items.length + " 个热点问题，反映最多的在前。"
      : "近 " + data.days + " 天没有热点问题。";
  }

  function fail(message) {
    status.setAttribute("role", "alert");
    status.className = "hotspots-status error";
    status.textContent = message;
  }

  fetch(box.dataset.src, { headers: { "Accept": "application/json" }, credentials: "same-origin" })
    .then(function (r) {
      if (!r.ok) throw new Error(r.status === 401 ? "登录已过期，请重新登录后查看热点问题。" : "热点问题暂时无法加载，请稍后刷新。");
      return r.json();
    })
    .then(show)
    .catch(function (error) { fail(error.message || "热点问题暂时无法加载，请稍后刷新。"); });
})();
