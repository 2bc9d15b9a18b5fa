// Plain-words names of the settable case field paths, for field editors and the conflict
// display: read from the field table generated from provide-core's `model/fields.rs`
// (bindings/field-table.ts), never kept here by hand.
import { FIELD_TABLE } from "./bindings/field-table";
import type { Outcome } from "./bindings/Outcome";
import type { Support } from "./bindings/Support";

const NAMES = new Map(FIELD_TABLE.fields.map((f) => [f.path, f.label]));
const ITEM_FIELDS = new Map(FIELD_TABLE.list_item_fields.map((f) => [`${f.list}.${f.field.path}`, f.field.label]));
const LISTS = new Map(FIELD_TABLE.lists.map((l) => [l.list, l.name]));

/** "Safe to call", "Referral status". */
export function fieldName(path: string): string {
  const named = NAMES.get(path);
  if (named) return named;
  const [list, , field] = path.split(".");
  const item = LISTS.get(list);
  if (item && field) return `${item} ${ITEM_FIELDS.get(`${list}.${field}`) ?? field.replace(/_/g, " ")}`;
  return path;
}

/** The fields under `prefix.` in the table's order, as keys of that part of the case. */
function keysUnder<T>(prefix: string): (keyof T & string)[] {
  return FIELD_TABLE.fields.filter((f) => f.path.startsWith(`${prefix}.`)).map((f) => f.path.slice(prefix.length + 1) as keyof T & string);
}

/** The support given (IDVA only), in the table's order. */
export const SUPPORT_KEYS = keysUnder<Support>("support");

/** The engagement outcomes, in the table's order. */
export const OUTCOME_KEYS = keysUnder<Outcome>("outcome");
