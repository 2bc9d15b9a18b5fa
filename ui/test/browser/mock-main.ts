// Entry of the test bundle (dist-mock/): installs the fake backend, then starts the real app.
// Never part of the production build.
import { installFakeBackend } from "./fake-backend";

installFakeBackend();
await import("../../src/main");
