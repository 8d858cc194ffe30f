// A button marked data-print prints the page (its print styles lay it out on A4).
document.addEventListener("click", (event) => {
  if (event.target.closest("[data-print]")) {
    window.print();
  }
});
