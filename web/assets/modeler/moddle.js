// The two extension vocabularies Duban reads from a diagram (engine/workflow/document.py):
// SpiffWorkflow's properties (name/value pairs) and Duban's inline form (a form-js schema as
// the element's text). `tagAlias: lowerCase` writes <spiffworkflow:properties>, <duban:form>.
export const spiffworkflow = {
  name: "SpiffWorkflow", prefix: "spiffworkflow", uri: "http://spiffworkflow.org/bpmn/schema/1.0/core",
  xml: { tagAlias: "lowerCase" }, associations: [],
  types: [
    { name: "Properties", superClass: ["Element"],
      properties: [{ name: "properties", type: "Property", isMany: true }] },
    { name: "Property", superClass: ["Element"],
      properties: [{ name: "name", type: "String", isAttr: true }, { name: "value", type: "String", isAttr: true }] },
  ],
};

export const duban = {
  name: "Duban", prefix: "duban", uri: "urn:duban:bpmn:1.0",
  xml: { tagAlias: "lowerCase" }, associations: [],
  types: [
    { name: "Form", superClass: ["Element"], properties: [{ name: "value", type: "String", isBody: true }] },
  ],
};
