// The bench's only script (served from /static: Content-Security-Policy default-src 'self').
// Two helpers, both read-only GETs to the JSON API with the session cookie; the server
// computes everything (no rule here):
// - the new-batch form shows the plan (GET /api/v1/plan) as the order is typed;
// - each weighing field shows where the typed amount stands against the plan and the
//   tolerance (GET /api/v1/batches/LOT/steps/N/check: a dry run of the real weighing);
// - a scan at a weighing (the scanner types the code and Enter) is checked at once
//   (GET /api/v1/batches/LOT/steps/N/scan) and the lot it identifies fills the component
//   lot field; the weighing checks the scan again when it is recorded;
// - "Read balance" says the balance is being read while the server waits for it.
"use strict";
(function () {
  function debounce(fn, ms) {
    var t = null;
    return function () { clearTimeout(t); t = setTimeout(fn, ms); };
  }
  function getJSON(url, done) {
    fetch(url, { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (r) { return r.json().then(function (body) { done(r.status, body); }); })
      .catch(function () { done(0, { error: "the bench did not answer" }); });
  }
  function qs(params) {
    return Object.keys(params).filter(function (k) { return params[k]; })
      .map(function (k) { return encodeURIComponent(k) + "=" + encodeURIComponent(params[k]); })
      .join("&");
  }

  var form = document.getElementById("new-batch");
  if (form) {
    var out = document.getElementById("plan-preview");
    var status = document.getElementById("plan-status");
    var seq = 0;
    var update = debounce(function () {
      var v = function (id) { return document.getElementById(id).value.trim(); };
      if (!v("quantity")) { out.textContent = ""; status.textContent = "Type a quantity (and strength) to see the plan."; return; }
      var mine = ++seq;
      getJSON("/api/v1/plan?" + qs({ formula: v("formula"), quantity: v("quantity"), strength: v("strength"),
                                     filler: v("filler"), capsule_size: v("capsule_size"),
                                     confirm_strength: document.getElementById("confirm_strength").checked ? "true" : "false" }),
        function (code, body) {
          if (mine !== seq) { return; }
          if (code === 200) { out.textContent = body.text; status.textContent = "Plan for this order:"; }
          else { out.textContent = ""; status.textContent = "Error: " + (body.error || "no plan"); }
        });
    }, 250);
    form.addEventListener("input", update);
    form.addEventListener("change", update);
    update();
  }

  Array.prototype.forEach.call(document.querySelectorAll("input.amount"), function (input) {
    var f = input.form;
    var out = document.getElementById("tol-" + input.dataset.step);
    var seq = 0;
    var check = debounce(function () {
      var lotField = f.querySelector("input.component-lot");
      var devField = f.querySelector("input.deviation-reason");
      if (!input.value.trim()) { out.textContent = ""; out.className = "tolerance"; return; }
      var mine = ++seq;
      var scanField = f.querySelector("input.scan-at-step");
      getJSON("/api/v1/batches/" + encodeURIComponent(input.dataset.lot) + "/steps/" +
              encodeURIComponent(input.dataset.step) + "/check?" +
              qs({ amount: input.value.trim(), component_lot: lotField ? lotField.value.trim() : "",
                   deviation_reason: devField ? devField.value.trim() : "",
                   scan: scanField ? scanField.value : "" }),
        function (code, body) {
          if (mine !== seq) { return; }
          if (code === 200) {
            out.textContent = body.message;
            out.className = "tolerance " + (body.ok ? "ok" : "refused");
          } else {
            out.textContent = "Error: " + (body.error || "not checked");
            out.className = "tolerance refused";
          }
        });
    }, 300);
    f.addEventListener("input", check);
  });

  Array.prototype.forEach.call(document.querySelectorAll("input.scan-at-step"), function (input) {
    var f = input.form;
    var out = document.getElementById("scanned-" + input.dataset.step);
    var seq = 0;
    function checkScan() {
      if (!input.value) { out.textContent = ""; out.className = "scanned"; return; }
      var mine = ++seq;
      getJSON("/api/v1/batches/" + encodeURIComponent(input.dataset.lot) + "/steps/" +
              encodeURIComponent(input.dataset.step) + "/scan?" + qs({ code: input.value }),
        function (code, body) {
          if (mine !== seq) { return; }
          if (code === 200) {
            out.textContent = body.message;
            out.className = "scanned ok";
            var lotField = f.querySelector("input.component-lot");
            if (lotField && body.kind === "component") { lotField.value = body.lot; }
            f.querySelector("input.amount").focus();
          } else {
            out.textContent = "Error: " + (body.error || "scan not checked");
            out.className = "scanned refused";
            input.select();
          }
        });
    }
    input.addEventListener("keydown", function (e) {
      if (e.key === "Enter") { e.preventDefault(); checkScan(); }
    });
    input.addEventListener("change", checkScan);
  });

  Array.prototype.forEach.call(document.querySelectorAll("form.weigh"), function (f) {
    f.addEventListener("submit", function (e) {
      var b = e.submitter;
      if (!b || b.value !== "balance") { return; }
      var out = document.getElementById("tol-" + f.querySelector("input[name=step]").value);
      if (out) { out.textContent = "Reading the balance: keep the pan still..."; out.className = "tolerance"; }
      // after the form data is taken (a disabled submitter would drop action=balance)
      setTimeout(function () {
        Array.prototype.forEach.call(f.querySelectorAll("button"), function (x) { x.disabled = true; });
      }, 0);
    });
  });
})();
