// Light (daylight) and dark (night shift) themes. Only the theme is kept in localStorage.
const KEY = "provide-theme";
export type Theme = "light" | "dark";

function saved(): Theme {
  try {
    return localStorage.getItem(KEY) === "dark" ? "dark" : "light";
  } catch {
    return "light";
  }
}

export const theme = $state({ current: "light" as Theme });

export function applyTheme(t: Theme = saved()) {
  theme.current = t;
  document.documentElement.dataset.theme = t;
  try {
    localStorage.setItem(KEY, t);
  } catch {
    /* storage may be unavailable; the theme still applies for this run */
  }
}

export function toggleTheme() {
  applyTheme(theme.current === "dark" ? "light" : "dark");
}
