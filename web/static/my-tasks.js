// 我的待办: the light chips follow the list the htmx request showed.
document.body.addEventListener("htmx:afterSwap", function (event) {
  if (event.detail.target.id !== "task-list") return;
  var shown = event.detail.target.querySelector("[data-filter]").dataset.filter || "all";
  document.querySelectorAll(".light-filter .chip").forEach(function (chip) {
    chip.classList.toggle("selected", chip.dataset.light === shown);
  });
});
