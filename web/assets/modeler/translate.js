// bpmn-js, the properties panel and bpmnlint in the page's language: the libraries look every
// text up through the `translate` service, replaced here by a look-up in the table the page
// hands over (#modeler-data's `bpmn`, web/ui/admin/modeler_language.py), keyed by their English.
const table = {};

export function useTable(strings) {
  Object.assign(table, strings || {});
}

/** The text in the page's language (the library's English when the table lacks it), `{name}`s filled. */
export function translate(template, replacements) {
  const values = replacements || {};
  return (table[template] || template).replace(/{([^}]+)}/g, (_, key) => (key in values ? values[key] : `{${key}}`));
}

export const TranslateModule = { translate: ["value", translate] };
