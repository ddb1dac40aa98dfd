/* cosmoloc: a little JavaScript on top of pages that work without it. */
(function () {
  "use strict";

  function swapFrom(html, id) {
    var doc = new DOMParser().parseFromString(html, "text/html");
    var fresh = doc.getElementById(id);
    var current = document.getElementById(id);
    if (fresh && current) {
      current.replaceWith(fresh);
      init(fresh);
    }
    return fresh;
  }

  function get(url) {
    return fetch(url, { credentials: "same-origin", headers: { "Accept": "text/html" } }).then(function (r) {
      if (!r.ok) { throw new Error(r.status); }
      return r.text();
    });
  }

  /* Upload with a progress bar; the plain form post is the fallback. */
  function uploadForms(root) {
    root.querySelectorAll("form[data-upload]").forEach(function (form) {
      form.addEventListener("submit", function (ev) {
        if (!window.FormData || !window.XMLHttpRequest) { return; }
        ev.preventDefault();
        var box = form.querySelector(".upload-progress");
        var bar = form.querySelector("progress");
        var text = form.querySelector(".upload-percent");
        var button = form.querySelector("button[type=submit]");
        if (box) { box.hidden = false; }
        if (button) { button.disabled = true; }
        var xhr = new XMLHttpRequest();
        xhr.open("POST", form.action);
        xhr.upload.addEventListener("progress", function (e) {
          if (!e.lengthComputable) { return; }
          var pct = Math.round(e.loaded / e.total * 100);
          if (bar) { bar.value = pct; bar.textContent = pct + "%"; }
          if (text) { text.textContent = pct < 100 ? pct + "%" : "Uploaded, checking the files…"; }
        });
        xhr.addEventListener("load", function () {
          if (xhr.status < 400) {
            window.location.assign(xhr.responseURL || form.action);
            return;
          }
          // the server answered with the form again and the error in plain words
          var main = swapFrom(xhr.responseText, "main");
          if (!main) { document.open(); document.write(xhr.responseText); document.close(); return; }
          var err = document.getElementById("form-error");
          if (err) { err.setAttribute("tabindex", "-1"); err.focus(); }
        });
        xhr.addEventListener("error", function () {
          if (button) { button.disabled = false; }
          if (text) { text.textContent = "The upload failed. Check your connection and try again."; }
        });
        xhr.send(new FormData(form));
      });
    });
  }

  /* The chosen licence, explained under the picker. */
  function licencePicker(root) {
    root.querySelectorAll("select[data-licence-picker]").forEach(function (select) {
      var out = document.getElementById("license-summary");
      function show() {
        var opt = select.options[select.selectedIndex];
        if (out) { out.textContent = opt && opt.dataset.summary ? opt.dataset.summary : ""; }
      }
      select.addEventListener("change", show);
      show();
    });
  }

  /* "Use my location": fills the form's hidden latitude and longitude. */
  function useLocation(root) {
    if (!navigator.geolocation) { return; }
    root.querySelectorAll("[data-use-location]").forEach(function (button) {
      var form = button.closest("form");
      var status = form.querySelector("[data-location-status]");
      button.hidden = false;
      button.addEventListener("click", function () {
        if (status) { status.textContent = "Finding you…"; }
        navigator.geolocation.getCurrentPosition(function (pos) {
          form.elements.latitude.value = pos.coords.latitude.toFixed(5);
          form.elements.longitude.value = pos.coords.longitude.toFixed(5);
          if (status) { status.textContent = "Using your location (" + form.elements.latitude.value + ", " + form.elements.longitude.value + ")."; }
          if (!status) { form.requestSubmit ? form.requestSubmit() : form.submit(); }
          form.dispatchEvent(new Event("change"));
        }, function () {
          if (status) { status.textContent = "Your browser did not give a location; type a place instead."; }
        }, { timeout: 10000 });
      });
      var address = form.elements.address || form.elements.place;
      if (address) {
        address.addEventListener("input", function () {
          form.elements.latitude.value = "";
          form.elements.longitude.value = "";
          if (status) { status.textContent = ""; }
        });
      }
    });
  }

  /* Files being checked: poll the API, then swap in the rendered report. */
  function pendingFiles(root) {
    root.querySelectorAll("[data-pending-file]").forEach(function (el) {
      var id = el.getAttribute("data-pending-file");
      var tries = 0;
      function poll() {
        tries += 1;
        fetch("/api/v1/files/" + id, { credentials: "same-origin" }).then(function (r) { return r.json(); })
          .then(function (file) {
            if (file.validation && file.validation.status !== "pending") {
              return get("/designs/files/" + id + "/report").then(function (html) {
                var tmp = document.createElement("div");
                tmp.innerHTML = html.trim();
                var fresh = tmp.firstElementChild;
                var current = document.getElementById("file-" + id);
                if (fresh && current) { current.replaceWith(fresh); }
              });
            }
            setTimeout(poll, Math.min(1000 + tries * 500, 10000));
          }).catch(function () { setTimeout(poll, 10000); });
      }
      setTimeout(poll, 1000);
    });
  }

  /* The order page follows the order by itself. */
  var watchingOrder = false;
  function liveOrder(root) {
    var box = root.querySelector ? root.querySelector("#order-live") : null;
    if (!box || watchingOrder) { return; }
    watchingOrder = true;
    var id = box.dataset.orderId;
    var done = ["received", "cancelled", "rejected", "failed"];
    function poll() {
      var current = document.getElementById("order-live");
      if (!current || done.indexOf(current.dataset.status) >= 0) { return; }
      fetch("/api/v1/orders/" + id, { credentials: "same-origin" }).then(function (r) { return r.json(); })
        .then(function (order) {
          if (order.status !== current.dataset.status || order.updated_at !== current.dataset.updated) {
            return get(window.location.pathname).then(function (html) { swapFrom(html, "order-live"); });
          }
        }).catch(function () { /* try again later */ })
        .then(function () { setTimeout(poll, 3000); });
    }
    setTimeout(poll, 3000);
  }

  /* Sections marked data-refresh="seconds" are refetched, unless someone is typing in them. */
  function refreshing(root) {
    var els = root.querySelectorAll ? root.querySelectorAll("[data-refresh]") : [];
    els.forEach(function (el) {
      if (el.dataset.watching) { return; }
      el.dataset.watching = "1";
      var every = parseInt(el.dataset.refresh, 10) * 1000;
      setTimeout(function tick() {
        var current = document.getElementById(el.id);
        if (!current) { return; }
        if (current.contains(document.activeElement) && document.activeElement !== document.body) {
          setTimeout(tick, every);
          return;
        }
        get(window.location.pathname + window.location.search)
          .then(function (html) { swapFrom(html, el.id); }).catch(function () {})
          .then(function () { setTimeout(tick, every); });
      }, every);
    });
  }

  /* Offers count down without a reload. */
  function countdowns(root) {
    var els = root.querySelectorAll ? root.querySelectorAll("[data-expires]") : [];
    els.forEach(function (el) {
      var until = Date.parse(el.dataset.expires);
      if (isNaN(until)) { return; }
      function tick() {
        var s = Math.round((until - Date.now()) / 1000);
        if (s <= 0) { el.textContent = "time is up"; return; }
        el.textContent = s < 60 ? s + " s left to answer" : Math.floor(s / 60) + " min " + (s % 60) + " s left to answer";
        setTimeout(tick, 1000);
      }
      tick();
    });
  }

  /* The order form shows the labs that could make it as it is filled in. */
  function orderPreview(root) {
    root.querySelectorAll("form[data-order-form]").forEach(function (form) {
      var target = document.getElementById("order-preview");
      var timer = null;
      function refresh() {
        if (!form.elements.material.value || !(form.elements.address.value || form.elements.latitude.value)) { return; }
        fetch(form.dataset.previewUrl, { method: "POST", body: new FormData(form), credentials: "same-origin",
                                         headers: { "X-Fragment": "1" } })
          .then(function (r) { return r.text(); })
          .then(function (html) { target.innerHTML = html; }).catch(function () {});
      }
      form.addEventListener("change", function () { clearTimeout(timer); timer = setTimeout(refresh, 400); });
    });
  }

  /* Forms that undo something ask first (without JavaScript they just go). */
  function confirming(root) {
    root.querySelectorAll("form[data-confirm]").forEach(function (form) {
      form.addEventListener("submit", function (ev) {
        if (!window.confirm(form.dataset.confirm)) { ev.preventDefault(); }
      });
    });
  }

  function init(root) {
    confirming(root);
    uploadForms(root);
    licencePicker(root);
    useLocation(root);
    pendingFiles(root);
    liveOrder(root);
    refreshing(root);
    countdowns(root);
    orderPreview(root);
  }

  document.addEventListener("DOMContentLoaded", function () { init(document); });
})();
