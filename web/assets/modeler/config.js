// What the page hands the bundle (web/templates/admin/definitions_edit.html, #modeler-data):
// translated strings (S) and the vocabularies Duban accepts (V), read once at start.
export const S = {};
export const V = { roles: [], statuses: [], events: [], targets: [], planFields: [], records: [], purposes: [] };

export function configure(data) {
  Object.assign(S, data.strings || {});
  Object.assign(V, data.vocab || {});
}

/** "P5D", "PT4H", "P1M" from an amount and a unit (day, workday, hour, month). */
export function isoDuration(amount, unit) {
  const n = parseInt(amount, 10);
  if (!(n > 0)) return null;
  if (unit === "hour") return `PT${n}H`;
  if (unit === "month") return `P${n}M`;
  return `P${n}D`;
}

/** A datetime-local value ("2026-12-31T18:00") as ISO 8601 in Beijing time. */
export function isoBeijing(local) {
  if (!local) return null;
  return (local.length === 16 ? local + ":00" : local) + "+08:00";
}
