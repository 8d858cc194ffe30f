// 整改台账: after an in-place (htmx) update, the filter form and the export link follow what
// the table shows.
document.body.addEventListener("htmx:afterSwap", function (event) {
  if (event.detail.target.id !== "problem-table") return;
  var shown = event.detail.target.querySelector("[data-ledger-state]");
  if (!shown) return;
  var state = JSON.parse(shown.dataset.ledgerState);
  var form = document.getElementById("ledger-filters");
  form.elements.sort.value = state.sort;
  form.elements.light.value = state.light || "";
  var exportLink = document.getElementById("export-link");
  if (exportLink) exportLink.href = state.export;
});
