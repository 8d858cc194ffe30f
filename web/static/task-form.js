// The task page: the form-js viewer for the task's form, and its submission as a normal POST.
(function () {
  var setup = JSON.parse(document.getElementById("task-form-setup").textContent);
  var container = document.getElementById("task-form");
  // debounce off: what is typed is in the form's data at once, whenever the user submits
  var form = new FormViewer.Form({ container: container, debounce: false,
                                   properties: { readOnly: setup.readOnly } });

  // form-js says its own validation messages in English: word them in the page's language
  // from the catalog's table (web/ui/messages.py VIEWER_MESSAGES), by pattern
  var messages = (setup.messages || []).map(function (pair) { return [new RegExp(pair[0]), pair[1]]; });
  function worded(message) {
    for (var i = 0; i < messages.length; i++) {
      var found = messages[i][0].exec(message);
      if (found) {
        var groups = found.groups || {};
        return messages[i][1].replace(/%\((\w+)\)s/g, function (_, name) { return groups[name] || ""; });
      }
    }
    return message;
  }
  var validator = form.get("validator");
  ["validateField", "validateFieldInstance"].forEach(function (name) {
    var original = validator[name].bind(validator);
    validator[name] = function () { return original.apply(null, arguments).map(worded); };
  });

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
