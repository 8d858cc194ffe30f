// The task page's evidence uploads: a progress bar while a file goes up (htmx reports the
// XMLHttpRequest's upload progress as htmx:xhr:progress on the form that sent it).
(function () {
  function bar(form) {
    return form && form.classList && form.classList.contains("upload-evidence")
      ? form.querySelector("progress.upload-progress") : null;
  }
  document.body.addEventListener("htmx:beforeRequest", function (event) {
    var progress = bar(event.detail.elt);
    if (!progress) return;
    progress.value = 0;
    progress.hidden = false;
    event.detail.elt.querySelector("button[type=submit]").disabled = true;
  });
  document.body.addEventListener("htmx:xhr:progress", function (event) {
    var progress = bar(event.detail.elt || event.target);
    if (!progress || !event.detail.lengthComputable) return;
    // htmx reports the response coming down too: the bar only goes forward
    progress.value = Math.max(progress.value, Math.round(event.detail.loaded * 100 / event.detail.total));
  });
  document.body.addEventListener("htmx:afterRequest", function (event) {
    var progress = bar(event.detail.elt);
    if (!progress) return;  // on success the field is swapped for the new list
    progress.hidden = true;
    event.detail.elt.querySelector("button[type=submit]").disabled = false;
  });
})();
