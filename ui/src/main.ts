// Entry point: applies the saved theme and mounts the app. The window title is always just
// "Provide" — never a name or anything else from a case.
import { mount } from "svelte";
import App from "./App.svelte";
import { applyTheme } from "./lib/state/theme.svelte";
import "./styles/base.css";

document.title = "Provide";
applyTheme();
const target = document.getElementById("app");
if (!target) throw new Error("no #app element");
export default mount(App, { target });
