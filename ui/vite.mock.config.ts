// The browser-test bundle: the real UI plus the fake backend (test/browser/fake-backend.ts),
// built into dist-mock/ so that the production dist/ never contains a mock.
import { defineConfig, mergeConfig } from "vite";
import base from "./vite.config.ts";

export default mergeConfig(
  base,
  defineConfig({
    build: {
      outDir: "dist-mock",
      emptyOutDir: true,
      rollupOptions: { input: "test/browser/mock.html" },
    },
  }),
);
