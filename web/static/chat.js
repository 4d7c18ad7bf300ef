// The resident web chat: the conversation is redrawn from /chat/history, text and photos go
// to /chat, and notices arrive without a reload — pushed by /chat/events (Server-Sent
// Events), or, where that fails, by polling /chat/messages. Every bot message has an id
// (its outbox row): a message is drawn once, whichever way it came.
(function () {
  "use strict";
  var POLL_MS = 1500;
  var box = document.getElementById("chat");
  var errorLine = document.getElementById("chat-error");
  var csrf = box.dataset.csrf;
  var drawn = {};
  var lastId = 0;
  var polling = false;
  var generation = 0;  // a rejoin starts another conversation: late answers are dropped
  var events = null;
  var poller = null;

  function bubble(who, text) {
    var p = document.createElement("p");
    p.className = "msg " + who;
    p.textContent = text;
    box.appendChild(p);
    box.scrollTop = box.scrollHeight;
    return p;
  }

  // An image of a bot message (e.g. the 办结 photos with the rating question, served by
  // /chat/photos/ to this resident only): shown in the chat, a tap opens it full size.
  function drawImage(url) {
    var p = document.createElement("p");
    p.className = "msg bot photo";
    var a = document.createElement("a");
    a.href = url; a.rel = "noopener"; a.target = "_blank";
    var img = document.createElement("img");
    img.src = url; img.alt = "照片（点开看大图）";
    img.addEventListener("load", function () { box.scrollTop = box.scrollHeight; });
    a.appendChild(img);
    p.appendChild(a);
    box.appendChild(p);
  }

  function showError(text) {
    errorLine.textContent = text;
    errorLine.hidden = false;
  }

  function disableButtons() {
    box.querySelectorAll("button.choice").forEach(function (b) { b.disabled = true; });
  }

  // A pressed choice is disabled with its row, which drops the keyboard focus to the page's
  // top. Once the answer is in, focus goes to its first choice, or else to the text box.
  function focusNext() {
    var rows = box.querySelectorAll(".choices");
    var next = rows.length ? rows[rows.length - 1].querySelector("button.choice:not([disabled])") : null;
    (next || document.getElementById("chat-text")).focus();
  }

  function press(b) {
    disableButtons();
    bubble("me", b.title);
    post("/chat/send", JSON.stringify({ payload: b.payload }), true).then(focusNext);
  }

  function drawBot(m, offered) {
    if (m.id) {
      if (drawn[m.id]) return;
      drawn[m.id] = true;
      if (m.id > lastId) lastId = m.id;
    }
    if (m.text) bubble("bot", m.text);
    if (m.image) drawImage(m.image);
    if (m.buttons && m.buttons.length) {
      var row = document.createElement("div");
      row.className = "choices";
      m.buttons.forEach(function (b) {
        var btn = document.createElement("button");
        btn.type = "button"; btn.className = "choice"; btn.textContent = b.title;
        btn.disabled = offered !== undefined && offered.indexOf(b.payload) < 0;
        btn.addEventListener("click", function () { press(b); });
        row.appendChild(btn);
      });
      box.appendChild(row);
    }
    box.scrollTop = box.scrollHeight;
  }

  function showReplies(data) {
    (data.messages || []).forEach(function (m) { drawBot(m); });
  }

  function getJson(url) {
    return fetch(url, { headers: { "Accept": "application/json" }, credentials: "same-origin" })
      .then(function (r) { if (!r.ok) throw new Error(r.status); return r.json(); });
  }

  function redraw() {
    return getJson("/chat/history").then(function (data) {
      (data.messages || []).forEach(function (m) {
        if (m.from === "me") bubble("me", m.text);
        else drawBot(m, data.offered || []);
      });
      if (data.last > lastId) lastId = data.last;
    }).catch(function () { showError("聊天记录暂时无法加载，请稍后刷新"); });
  }

  function poll() {
    if (polling) return;
    polling = true;
    var asked = generation;
    getJson("/chat/messages?after=" + lastId)
      .then(function (data) { if (asked === generation) showReplies(data); })
      .catch(function () { /* offline for a moment: the next poll catches up */ })
      .then(function () { polling = false; });
  }

  function startPolling() {
    if (!poller) poller = window.setInterval(poll, POLL_MS);
  }

  function listen() {
    if (events) events.close();
    if (!window.EventSource) { startPolling(); return; }
    var asked = generation;
    events = new EventSource("/chat/events?after=" + lastId);
    events.onmessage = function (e) {
      if (asked !== generation) return;
      try { drawBot(JSON.parse(e.data)); } catch (err) { /* a broken event: skip it */ }
    };
    events.onerror = function () {
      // The browser reconnects by itself; only a stream it gave up on falls back to polling.
      if (events.readyState === EventSource.CLOSED) { events = null; startPolling(); }
    };
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
          showError(typeof res.data.detail === "string" ? res.data.detail : "发送失败，请重试");
          return false;
        }
        showReplies(res.data);
        return true;
      })
      .catch(function () {
        wait.remove();
        showError("网络连接失败，请重试");
        return false;
      });
  }

  document.getElementById("chat-form").addEventListener("submit", function (e) {
    e.preventDefault();
    var input = document.getElementById("chat-text");
    var text = input.value.trim();
    if (!text) { showError("请先输入内容"); return; }
    disableButtons();
    bubble("me", text);
    input.value = "";
    post("/chat/send", JSON.stringify({ text: text }), true);
  });

  function photoBubble(file) {
    var p = bubble("me", "［照片］" + file.name);
    if (/^image\/(jpeg|png)$/.test(file.type) && window.FileReader) {
      var reader = new FileReader();
      reader.onload = function () {
        var img = document.createElement("img");
        img.className = "thumb"; img.alt = file.name; img.src = reader.result;  // a data: URL
        p.appendChild(img);
      };
      reader.readAsDataURL(file);
    }
    return p;
  }

  function markFailed(p, why) {
    p.classList.add("failed");
    var state = document.createElement("span");
    state.className = "state"; state.textContent = "上传失败" + (why ? "：" + why : "");
    p.appendChild(state);
  }

  document.getElementById("photo-form").addEventListener("submit", function (e) {
    e.preventDefault();
    var file = document.getElementById("chat-photo");
    if (!file.files.length) { showError("请先选择照片"); return; }
    var form = new FormData();
    form.append("photo", file.files[0]);
    var shown = photoBubble(file.files[0]);
    post("/chat/photo", form, false).then(function (ok) {
      if (!ok) markFailed(shown, errorLine.hidden ? "" : errorLine.textContent);
      file.value = "";
    });
  });

  document.getElementById("chat-locate").addEventListener("click", function () {
    if (!navigator.geolocation) { showError("这个浏览器不能定位，请直接输入地址"); return; }
    navigator.geolocation.getCurrentPosition(function (pos) {
      bubble("me", "［位置］");
      post("/chat/location", JSON.stringify({ lat: pos.coords.latitude, lon: pos.coords.longitude }), true);
    }, function () {
      showError("没能获取位置（可能未允许定位），请直接输入小区、楼栋和单元");
    }, { enableHighAccuracy: true, timeout: 15000, maximumAge: 60000 });
  });

  document.getElementById("rejoin-form").addEventListener("submit", function (e) {
    e.preventDefault();
    errorLine.hidden = true;
    var body = JSON.stringify({ case_no: document.getElementById("rejoin-case").value,
                                phone_tail: document.getElementById("rejoin-phone").value });
    fetch("/chat/rejoin", { method: "POST", body: body, credentials: "same-origin",
                            headers: { "X-CSRFToken": csrf, "Content-Type": "application/json",
                                       "Accept": "application/json" } })
      .then(function (r) { return r.json().then(function (d) { return { ok: r.ok, data: d }; }); })
      .then(function (res) {
        if (!res.ok) {
          showError(typeof res.data.detail === "string" ? res.data.detail : "找回失败，请核对后再试");
          return;
        }
        generation += 1;
        box.textContent = ""; drawn = {}; lastId = 0;
        redraw().then(function () { if (!poller) listen(); });
      })
      .catch(function () { showError("网络连接失败，请重试"); });
  });

  redraw().then(listen);
})();
