// Generated from provide-core's `model/fields.rs` by the bindings test; do not edit.
import type { FieldTable } from "./FieldTable";

export const FIELD_TABLE: FieldTable = {
  "fields": [
    {
      "path": "deployment",
      "kind": "choice",
      "choices": [
        "live",
        "post_incident",
        "consultation"
      ],
      "only": null,
      "label": "Deployment"
    },
    {
      "path": "status",
      "kind": "choice",
      "choices": [
        "triaged",
        "active",
        "handed_over",
        "closed"
      ],
      "only": null,
      "label": "Case status"
    },
    {
      "path": "division",
      "kind": "text",
      "choices": [],
      "only": null,
      "label": "Division"
    },
    {
      "path": "team",
      "kind": "text",
      "choices": [],
      "only": null,
      "label": "Team"
    },
    {
      "path": "incident.reference",
      "kind": "text",
      "choices": [],
      "only": null,
      "label": "Police reference"
    },
    {
      "path": "incident.occurred_at",
      "kind": "datetime",
      "choices": [],
      "only": null,
      "label": "When it happened"
    },
    {
      "path": "incident.location",
      "kind": "text",
      "choices": [],
      "only": null,
      "label": "Where"
    },
    {
      "path": "victim.name",
      "kind": "text",
      "choices": [],
      "only": null,
      "label": "Victim name"
    },
    {
      "path": "victim.dob",
      "kind": "date",
      "choices": [],
      "only": null,
      "label": "Date of birth"
    },
    {
      "path": "victim.address",
      "kind": "text",
      "choices": [],
      "only": null,
      "label": "Address"
    },
    {
      "path": "victim.phone",
      "kind": "text",
      "choices": [],
      "only": null,
      "label": "Phone"
    },
    {
      "path": "victim.language",
      "kind": "text",
      "choices": [],
      "only": null,
      "label": "Language"
    },
    {
      "path": "victim.interpreter_needed",
      "kind": "opt_bool",
      "choices": [],
      "only": null,
      "label": "Interpreter needed"
    },
    {
      "path": "victim.disability",
      "kind": "text",
      "choices": [],
      "only": null,
      "label": "Disability"
    },
    {
      "path": "victim.pregnant",
      "kind": "opt_bool",
      "choices": [],
      "only": null,
      "label": "Pregnant"
    },
    {
      "path": "victim.safe_contact.call_ok",
      "kind": "opt_bool",
      "choices": [],
      "only": null,
      "label": "Safe to call"
    },
    {
      "path": "victim.safe_contact.text_ok",
      "kind": "opt_bool",
      "choices": [],
      "only": null,
      "label": "Safe to text"
    },
    {
      "path": "victim.safe_contact.voicemail_ok",
      "kind": "opt_bool",
      "choices": [],
      "only": null,
      "label": "Safe to leave voicemail"
    },
    {
      "path": "victim.safe_contact.safe_times",
      "kind": "text",
      "choices": [],
      "only": null,
      "label": "Safe times"
    },
    {
      "path": "victim.safe_contact.notes",
      "kind": "text",
      "choices": [],
      "only": null,
      "label": "Contact notes"
    },
    {
      "path": "perpetrator.name",
      "kind": "text",
      "choices": [],
      "only": null,
      "label": "Perpetrator name"
    },
    {
      "path": "perpetrator.relationship",
      "kind": "text",
      "choices": [],
      "only": null,
      "label": "Relationship"
    },
    {
      "path": "perpetrator.in_custody",
      "kind": "opt_bool",
      "choices": [],
      "only": null,
      "label": "In custody"
    },
    {
      "path": "perpetrator.bail_conditions",
      "kind": "text",
      "choices": [],
      "only": null,
      "label": "Bail conditions"
    },
    {
      "path": "support.risk_assessment",
      "kind": "bool",
      "choices": [],
      "only": "idva",
      "label": "Risk assessment"
    },
    {
      "path": "support.safety_planning",
      "kind": "bool",
      "choices": [],
      "only": "idva",
      "label": "Safety planning"
    },
    {
      "path": "support.emotional_support",
      "kind": "bool",
      "choices": [],
      "only": "idva",
      "label": "Emotional support"
    },
    {
      "path": "support.information_signposting",
      "kind": "bool",
      "choices": [],
      "only": "idva",
      "label": "Information and signposting"
    },
    {
      "path": "support.criminal_justice_advocacy",
      "kind": "bool",
      "choices": [],
      "only": "idva",
      "label": "Criminal justice advocacy"
    },
    {
      "path": "support.social_welfare",
      "kind": "bool",
      "choices": [],
      "only": "idva",
      "label": "Social welfare"
    },
    {
      "path": "consent.information_sharing",
      "kind": "choice",
      "choices": [
        "yes",
        "no",
        "not_asked"
      ],
      "only": null,
      "label": "Consent to share information"
    },
    {
      "path": "consent.basis",
      "kind": "text",
      "choices": [],
      "only": null,
      "label": "Basis for sharing"
    },
    {
      "path": "outcome.engaged_safeguarding",
      "kind": "choice",
      "choices": [
        "yes",
        "no",
        "unknown"
      ],
      "only": null,
      "label": "Engaged with safeguarding"
    },
    {
      "path": "outcome.engaged_investigation",
      "kind": "choice",
      "choices": [
        "yes",
        "no",
        "unknown"
      ],
      "only": null,
      "label": "Engaged with the investigation"
    },
    {
      "path": "outcome.previously_engaged_safeguarding",
      "kind": "choice",
      "choices": [
        "yes",
        "no",
        "unknown"
      ],
      "only": null,
      "label": "Previously engaged with safeguarding"
    },
    {
      "path": "outcome.previously_engaged_investigation",
      "kind": "choice",
      "choices": [
        "yes",
        "no",
        "unknown"
      ],
      "only": null,
      "label": "Previously engaged with the investigation"
    },
    {
      "path": "outcome.repeat_victim",
      "kind": "choice",
      "choices": [
        "yes",
        "no",
        "unknown"
      ],
      "only": null,
      "label": "Repeat victim"
    },
    {
      "path": "triage.reason",
      "kind": "choice",
      "choices": [
        "high_risk",
        "vulnerability",
        "health_need"
      ],
      "only": "safeguarding",
      "label": "Triage reason"
    },
    {
      "path": "triage.priority",
      "kind": "count",
      "choices": [],
      "only": "safeguarding",
      "label": "Priority"
    },
    {
      "path": "triage.visit_date",
      "kind": "date",
      "choices": [],
      "only": "safeguarding",
      "label": "Visit date"
    },
    {
      "path": "triage.shift",
      "kind": "choice",
      "choices": [
        "early",
        "late"
      ],
      "only": "safeguarding",
      "label": "Visit shift"
    },
    {
      "path": "triage.notes",
      "kind": "text",
      "choices": [],
      "only": "safeguarding",
      "label": "Triage notes"
    }
  ],
  "list_item_fields": [
    {
      "list": "children",
      "field": {
        "path": "name",
        "kind": "text",
        "choices": [],
        "only": null,
        "label": "name"
      }
    },
    {
      "list": "children",
      "field": {
        "path": "age",
        "kind": "count",
        "choices": [],
        "only": null,
        "label": "age"
      }
    },
    {
      "list": "children",
      "field": {
        "path": "present_at_incident",
        "kind": "opt_bool",
        "choices": [],
        "only": null,
        "label": "present at incident"
      }
    },
    {
      "list": "safety_plan",
      "field": {
        "path": "text",
        "kind": "text",
        "choices": [],
        "only": null,
        "label": "text"
      }
    },
    {
      "list": "safety_plan",
      "field": {
        "path": "done",
        "kind": "bool",
        "choices": [],
        "only": null,
        "label": "done"
      }
    },
    {
      "list": "referrals",
      "field": {
        "path": "status",
        "kind": "choice",
        "choices": [
          "to_make",
          "made",
          "accepted",
          "declined"
        ],
        "only": null,
        "label": "status"
      }
    },
    {
      "list": "referrals",
      "field": {
        "path": "consent",
        "kind": "choice",
        "choices": [
          "yes",
          "no",
          "not_asked"
        ],
        "only": null,
        "label": "consent"
      }
    },
    {
      "list": "referrals",
      "field": {
        "path": "notes",
        "kind": "text",
        "choices": [],
        "only": null,
        "label": "notes"
      }
    },
    {
      "list": "visits",
      "field": {
        "path": "outcome",
        "kind": "choice",
        "choices": [
          "engaged",
          "declined",
          "no_answer",
          "unsafe"
        ],
        "only": null,
        "label": "outcome"
      }
    },
    {
      "list": "visits",
      "field": {
        "path": "notes",
        "kind": "text",
        "choices": [],
        "only": null,
        "label": "notes"
      }
    },
    {
      "list": "safeguarding_actions",
      "field": {
        "path": "done",
        "kind": "bool",
        "choices": [],
        "only": "safeguarding",
        "label": "done"
      }
    },
    {
      "list": "safeguarding_actions",
      "field": {
        "path": "detail",
        "kind": "text",
        "choices": [],
        "only": "safeguarding",
        "label": "detail"
      }
    }
  ],
  "lists": [
    {
      "list": "notes",
      "name": "Note"
    },
    {
      "list": "visits",
      "name": "Visit"
    },
    {
      "list": "referrals",
      "name": "Referral"
    },
    {
      "list": "safety_plan",
      "name": "Safety plan item"
    },
    {
      "list": "children",
      "name": "Child"
    },
    {
      "list": "safeguarding_actions",
      "name": "Safeguarding action"
    },
    {
      "list": "risk_assessments",
      "name": "Risk assessment"
    }
  ]
};
