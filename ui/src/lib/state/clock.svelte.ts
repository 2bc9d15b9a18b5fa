// The time now, to the minute, for everything that compares with it (the contact strip's safe
// times). One timer for the whole app, started by the first reader and stopped by the last.
import { createSubscriber } from "svelte/reactivity";

let current = new Date();

const subscribe = createSubscriber((update) => {
  let interval: ReturnType<typeof setInterval> | undefined;
  const tick = () => {
    current = new Date();
    update();
  };
  // on the minute, then every minute
  const first = setTimeout(() => {
    tick();
    interval = setInterval(tick, 60_000);
  }, 60_000 - (Date.now() % 60_000) + 50);
  current = new Date();
  return () => {
    clearTimeout(first);
    if (interval) clearInterval(interval);
  };
});

/** The time now; read inside a component or effect, it updates every minute. */
export function minuteNow(): Date {
  subscribe();
  return current;
}
