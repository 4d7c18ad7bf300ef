// Polls the training job while it runs; reloads the page when it finishes.
(function () {
  "use strict";
  var box = document.getElementById("job");
  if (!box || box.dataset.running !== "true") return;
  function poll() {
    fetch("/nlu/job", { headers: { "Accept": "application/json" }, credentials: "same-origin" })
      .then(function (r) { return r.json(); })
      .then(function (job) {
        document.getElementById("job-stage").textContent = job.stage_label || "";
        document.getElementById("job-elapsed").textContent = job.elapsed;
        document.getElementById("job-progress").value = job.progress;
        document.getElementById("job-log").textContent = (job.lines || []).join("\n") + (job.error ? "\n" + job.error : "");
        if (job.running) { setTimeout(poll, 2000); } else { location.replace("/nlu?ok=" + encodeURIComponent("训练结束：" + job.stage_label)); }
      })
      .catch(function () { setTimeout(poll, 5000); });
  }
  setTimeout(poll, 1000);
})();
