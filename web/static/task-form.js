// The task page: the form-js viewer for the task's form, and its submission as a normal POST.
(function () {
  var setup = JSON.parse(document.getElementById("task-form-setup").textContent);
  var container = document.getElementById("task-form");
  // debounce off: what is typed is in the form's data at once, whenever the user submits
  var form = new FormViewer.Form({ container: container, debounce: false,
                                   properties: { readOnly: setup.readOnly } });

  form.importSchema(setup.schema, setup.data).then(function () {
    if (Object.keys(setup.errors).length) {
      // the server's validation errors, at their fields (form-js keys errors by component id)
      form._setState({ errors: setup.errors });
    }
    container.dataset.ready = "true";
  }).catch(function (error) {
    container.textContent = "表单无法显示：" + error.message;
    container.dataset.ready = "failed";
  });

  var submit = document.getElementById("complete-form");
  if (!submit) return;
  submit.addEventListener("submit", function (event) {
    event.preventDefault();
    var result = form.submit();
    if (Object.keys(result.errors).length) return;  // form-js shows them at their fields
    submit.elements.data.value = JSON.stringify(result.data);
    HTMLFormElement.prototype.submit.call(submit);
  });
})();
