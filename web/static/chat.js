// The resident web chat: text and photos go to /chat, bot replies are drawn with textContent.
(function () {
  "use strict";
  var box = document.getElementById("chat");
  var errorLine = document.getElementById("chat-error");
  var csrf = box.dataset.csrf;

  function bubble(who, text) {
    var p = document.createElement("p");
    p.className = "msg " + who;
    p.textContent = text;
    box.appendChild(p);
    box.scrollTop = box.scrollHeight;
    return p;
  }

  function disableButtons() {
    box.querySelectorAll("button.choice").forEach(function (b) { b.disabled = true; });
  }

  function showReplies(data) {
    (data.messages || []).forEach(function (m) {
      if (m.text) bubble("bot", m.text);
      if (m.image) {
        var a = document.createElement("a");
        a.href = m.image; a.textContent = "查看图片"; a.rel = "noopener"; a.target = "_blank";
        box.appendChild(a);
      }
      if (m.buttons && m.buttons.length) {
        var row = document.createElement("div");
        row.className = "choices";
        m.buttons.forEach(function (b) {
          var btn = document.createElement("button");
          btn.type = "button"; btn.className = "choice"; btn.textContent = b.title;
          btn.addEventListener("click", function () {
            disableButtons();
            bubble("me", b.title);
            post("/chat/send", JSON.stringify({ payload: b.payload }), true);
          });
          row.appendChild(btn);
        });
        box.appendChild(row);
      }
    });
    box.scrollTop = box.scrollHeight;
  }

  function post(url, body, isJson) {
    errorLine.hidden = true;
    var headers = { "X-CSRFToken": csrf, "Accept": "application/json" };
    if (isJson) headers["Content-Type"] = "application/json";
    var wait = bubble("bot pending", "…");
    return fetch(url, { method: "POST", body: body, headers: headers, credentials: "same-origin" })
      .then(function (r) {
        return r.json().catch(function () { return { detail: "服务暂时不可用，请稍后再试" }; })
          .then(function (data) { return { ok: r.ok, data: data }; });
      })
      .then(function (res) {
        wait.remove();
        if (!res.ok) {
          errorLine.textContent = typeof res.data.detail === "string" ? res.data.detail : "发送失败，请重试";
          errorLine.hidden = false;
          return;
        }
        showReplies(res.data);
      })
      .catch(function () {
        wait.remove();
        errorLine.textContent = "网络连接失败，请重试"; errorLine.hidden = false;
      });
  }

  document.getElementById("chat-form").addEventListener("submit", function (e) {
    e.preventDefault();
    var input = document.getElementById("chat-text");
    var text = input.value.trim();
    if (!text) { errorLine.textContent = "请先输入内容"; errorLine.hidden = false; return; }
    disableButtons();
    bubble("me", text);
    input.value = "";
    post("/chat/send", JSON.stringify({ text: text }), true);
  });

  document.getElementById("photo-form").addEventListener("submit", function (e) {
    e.preventDefault();
    var file = document.getElementById("chat-photo");
    if (!file.files.length) { errorLine.textContent = "请先选择照片"; errorLine.hidden = false; return; }
    var form = new FormData();
    form.append("photo", file.files[0]);
    bubble("me", "［照片］" + file.files[0].name);
    post("/chat/photo", form, false).then(function () { file.value = ""; });
  });
})();
