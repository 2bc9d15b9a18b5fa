// Closes an open panel of the header (the sync detail, the menu) when the user presses Escape or
// taps anywhere outside it; a Svelte action on the element holding the button and its panel.
export function dismissable(node: HTMLElement, close: () => void) {
  const onKey = (e: KeyboardEvent) => {
    if (e.key === "Escape") close();
  };
  const onPointer = (e: PointerEvent) => {
    if (!node.contains(e.target as Node)) close();
  };
  window.addEventListener("keydown", onKey);
  window.addEventListener("pointerdown", onPointer);
  return {
    destroy() {
      window.removeEventListener("keydown", onKey);
      window.removeEventListener("pointerdown", onPointer);
    },
  };
}
