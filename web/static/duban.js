// What every page shares, kept out of the HTML (the Content-Security-Policy allows no inline
// script or event handler): a form with data-confirm asks before it is sent.
(function () {
  document.addEventListener("submit", function (event) {
    var form = event.target.closest ? event.target.closest("form[data-confirm]") : null;
    if (form && !window.confirm(form.dataset.confirm)) event.preventDefault();
  }, true);
})();
