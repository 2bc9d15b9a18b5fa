// Stable ids and test ids for case field editors: `f-victim-name` and `field-victim.name`.
export const fieldId = (path: string) => `f-${path.replace(/[^a-zA-Z0-9_-]/g, "-")}`;
export const fieldTestId = (path: string) => `field-${path}`;
