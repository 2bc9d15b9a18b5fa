// How the case screen's sections behave, passed down by context so the section components stay
// simple: the case screen provides a policy (sections are disclosures, closed by default; which
// ones a role may edit); each Section provides its edit mode to the field editors and add forms
// inside it. Without a policy (other screens, unit tests) a Section is a plain card and every
// field is editable, as before.
import { getContext, setContext } from "svelte";

export type SectionPolicy = {
  /** Whether this section starts open. */
  open(testid: string): boolean;
  /** Whether this section offers "Edit". */
  editable(testid: string): boolean;
};

export type EditMode = { readonly editing: boolean };

const POLICY = Symbol("case-section-policy");
const MODE = Symbol("case-section-edit-mode");
const ALWAYS: EditMode = { editing: true };

export function provideSectionPolicy(p: SectionPolicy): void {
  setContext(POLICY, p);
}

export function sectionPolicy(): SectionPolicy | undefined {
  return getContext<SectionPolicy | undefined>(POLICY);
}

export function provideEditMode(m: EditMode): void {
  setContext(MODE, m);
}

/** The edit mode of the section around the caller: editing unless a case section says not. */
export function editMode(): EditMode {
  return getContext<EditMode | undefined>(MODE) ?? ALWAYS;
}
