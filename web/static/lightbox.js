// The task page's lightbox: an evidence photo of the case opens large over the page; the
// link still opens the file itself when this script is not there.
(function () {
  var box = document.getElementById("lightbox");
  if (!box || typeof box.showModal !== "function") return;
  var image = box.querySelector("img");
  document.addEventListener("click", function (event) {
    var link = event.target.closest("a[data-lightbox]");
    if (!link || event.ctrlKey || event.metaKey || event.shiftKey) return;
    event.preventDefault();
    var thumb = link.querySelector("img");
    image.src = link.getAttribute("href");
    image.alt = thumb ? thumb.alt : "";
    box.showModal();
  });
  box.addEventListener("click", function (event) {
    if (event.target === box) box.close();  // a click beside the picture closes it
  });
  box.addEventListener("close", function () { image.removeAttribute("src"); });
})();
