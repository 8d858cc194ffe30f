// A user task's form in the form-js editor, in a <dialog>: 保存 writes the schema back as the
// task's <duban:form> (form-js JSON, the format Duban's server reads); 取消 leaves it as it was.
import { FormEditor } from "@bpmn-io/form-js-editor";
import { getForm, parseForm, setForm } from "./extensions";
import { S } from "./config";

let editor = null;

export async function openFormDialog(modeler, element) {
  const dialog = document.getElementById("form-dialog");
  const title = dialog.querySelector("[data-form-title]");
  const problem = dialog.querySelector("[data-form-error]");
  title.textContent = `${S.formOf} ${element.businessObject.name || element.id}`;
  problem.textContent = "";
  if (!editor) editor = new FormEditor({ container: dialog.querySelector("[data-form-editor]") });
  const schema = parseForm(getForm(element)) || { type: "default", id: `Form_${element.id}`, components: [] };
  dialog.showModal();
  try {
    await editor.importSchema(schema);
  } catch (error) {
    problem.textContent = `${S.formUnreadable} ${error.message}`;
  }
  dialog.dataset.element = element.id;
  dialog.querySelector('[data-action="save-form"]').onclick = () => {
    const saved = editor.saveSchema();
    setForm(modeler.get("injector"), element, JSON.stringify(saved));
    dialog.close();
  };
  dialog.querySelector('[data-action="cancel-form"]').onclick = () => dialog.close();
}
