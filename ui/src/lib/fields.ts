// Plain-words names of the settable case field paths (see core/src/model/fields.rs), used by
// field editors and the conflict display.
const NAMES: Record<string, string> = {
  deployment: "Deployment",
  status: "Case status",
  division: "Division",
  team: "Team",
  "incident.reference": "Police reference",
  "incident.occurred_at": "When it happened",
  "incident.location": "Where",
  "victim.name": "Victim name",
  "victim.dob": "Date of birth",
  "victim.address": "Address",
  "victim.phone": "Phone",
  "victim.language": "Language",
  "victim.interpreter_needed": "Interpreter needed",
  "victim.disability": "Disability",
  "victim.pregnant": "Pregnant",
  "victim.safe_contact.call_ok": "Safe to call",
  "victim.safe_contact.text_ok": "Safe to text",
  "victim.safe_contact.voicemail_ok": "Safe to leave voicemail",
  "victim.safe_contact.safe_times": "Safe times",
  "victim.safe_contact.notes": "Contact notes",
  "perpetrator.name": "Perpetrator name",
  "perpetrator.relationship": "Relationship",
  "perpetrator.in_custody": "In custody",
  "perpetrator.bail_conditions": "Bail conditions",
  "support.risk_assessment": "Risk assessment",
  "support.safety_planning": "Safety planning",
  "support.emotional_support": "Emotional support",
  "support.information_signposting": "Information and signposting",
  "support.criminal_justice_advocacy": "Criminal justice advocacy",
  "support.social_welfare": "Social welfare",
  "consent.information_sharing": "Consent to share information",
  "consent.basis": "Basis for sharing",
  "outcome.engaged_safeguarding": "Engaged with safeguarding",
  "outcome.engaged_investigation": "Engaged with the investigation",
  "outcome.previously_engaged_safeguarding": "Previously engaged with safeguarding",
  "outcome.previously_engaged_investigation": "Previously engaged with the investigation",
  "outcome.repeat_victim": "Repeat victim",
};

const ITEM_FIELDS: Record<string, string> = {
  name: "name",
  age: "age",
  present_at_incident: "present at incident",
  text: "text",
  done: "done",
  status: "status",
  consent: "consent",
  notes: "notes",
  outcome: "outcome",
};

const LISTS: Record<string, string> = {
  children: "Child",
  safety_plan: "Safety plan item",
  referrals: "Referral",
  visits: "Visit",
  risk_assessments: "Risk assessment",
};

/** "Safe to call", "Referral status". */
export function fieldName(path: string): string {
  if (NAMES[path]) return NAMES[path];
  const [list, , field] = path.split(".");
  if (LISTS[list] && field) return `${LISTS[list]} ${ITEM_FIELDS[field] ?? field.replace(/_/g, " ")}`;
  return path;
}

export const SUPPORT_KEYS = [
  "risk_assessment",
  "safety_planning",
  "emotional_support",
  "information_signposting",
  "criminal_justice_advocacy",
  "social_welfare",
] as const;

export const OUTCOME_KEYS = [
  "engaged_safeguarding",
  "engaged_investigation",
  "previously_engaged_safeguarding",
  "previously_engaged_investigation",
  "repeat_victim",
] as const;
