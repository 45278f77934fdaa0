// Progressive enhancements only: every page works without this script.
"use strict";

document.addEventListener("DOMContentLoaded", () => {
  // Ask before destructive actions (forms marked data-confirm).
  for (const form of document.querySelectorAll("form[data-confirm]")) {
    form.addEventListener("submit", (event) => {
      if (!window.confirm(form.dataset.confirm)) {
        event.preventDefault();
      }
    });
  }

  // A run page reloads itself while the run is still going (the element says how often, in
  // seconds), so an operator sees jobs finish without pressing reload.
  const refresh = document.querySelector("[data-auto-refresh]");
  if (refresh) {
    const seconds = Math.max(2, Number(refresh.dataset.autoRefresh) || 5);
    window.setTimeout(() => window.location.reload(), seconds * 1000);
  }

  // On the new-directive form, the approval checkbox follows the type's default (D3 and D4
  // require approval) until the user sets it.
  const type = document.querySelector("select[data-approval-default]");
  const approval = document.getElementById("approval_required");
  if (type && approval) {
    let touched = false;
    approval.addEventListener("change", () => { touched = true; });
    type.addEventListener("change", () => {
      if (!touched) {
        approval.checked = type.value === "D3" || type.value === "D4";
      }
    });
  }
});
