// imhook console: the little the pages need a script for. Served from the
// console itself (CSP script-src 'self'); every page works without it except
// the live log.
"use strict";

// Drop zone: a dropped .wasm file fills the upload form's file input.
function dropZone(zone) {
  const input = zone.querySelector("input[type=file]");
  const form = zone.closest("form");
  const name = form.querySelector("input[name=plugin]");
  const chosen = () => {
    const f = input.files[0];
    if (!f) return;
    zone.dataset.file = f.name;
    zone.classList.add("chosen");
    if (name && !name.value) name.value = f.name.replace(/\.wasm$/, "").toLowerCase().replace(/[^a-z0-9_-]/g, "-");
  };
  zone.addEventListener("dragover", (e) => { e.preventDefault(); zone.classList.add("over"); });
  zone.addEventListener("dragleave", () => zone.classList.remove("over"));
  zone.addEventListener("drop", (e) => {
    e.preventDefault();
    zone.classList.remove("over");
    if (e.dataTransfer.files.length) {
      input.files = e.dataTransfer.files;
      chosen();
    }
  });
  input.addEventListener("change", chosen);
}

// Forms that destroy something ask first.
function confirmForm(form) {
  form.addEventListener("submit", (e) => {
    if (!window.confirm(form.dataset.confirm)) e.preventDefault();
  });
}

// Live log: polls the console's logs.json for the lines after the last one
// seen and appends them; text only, never HTML.
function liveLog(table) {
  const body = table.tBodies[0];
  const state = document.getElementById("log-state");
  let next = 0;
  const cell = (row, text) => { row.insertCell().textContent = text == null ? "" : String(text); };
  const poll = async () => {
    try {
      const r = await fetch(table.dataset.source + "?level=debug&after=" + next, { credentials: "same-origin" });
      const data = await r.json();
      if (!r.ok) throw new Error(data.error || r.status);
      for (const l of data.lines) {
        const row = body.insertRow();
        row.className = "kind-" + l.kind;
        cell(row, (l.time || "").replace("T", " ").replace(/\..*/, ""));
        cell(row, l.kind);
        cell(row, l.level);
        cell(row, l.plugin);
        cell(row, l.command);
        let msg = l.message || "";
        if (l.attrs) msg += " " + JSON.stringify(l.attrs);
        cell(row, msg);
      }
      if (data.next > next) next = data.next;
      state.textContent = "live";
      setTimeout(poll, 1000);
    } catch (err) {
      state.textContent = "stopped: " + err.message + " (reload the page)";
    }
  };
  poll();
}

document.querySelectorAll(".dropzone").forEach(dropZone);
document.querySelectorAll("form.confirm").forEach(confirmForm);
const log = document.getElementById("log");
if (log) liveLog(log);
