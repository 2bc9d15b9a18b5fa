// Searching the offline directory of services, and the tel: link of a phone number. Pure.
import type { Service } from "./bindings/Service";

/** Services whose name, area, who they serve, kinds or notes contain every word typed. */
export function searchServices(services: Service[], query: string): Service[] {
  const words = query.toLowerCase().split(/\s+/).filter(Boolean);
  if (!words.length) return services;
  return services.filter((s) => {
    const hay = [s.name, s.area, s.serves, s.kinds.join(" "), s.notes].join(" ").toLowerCase();
    return words.every((w) => hay.includes(w));
  });
}

/** "tel:07700900123" from "07700 900123"; null when there is no number to dial. */
export function telHref(phone: string | null): string | null {
  if (!phone) return null;
  const digits = phone.replace(/[^\d+]/g, "");
  return digits ? `tel:${digits}` : null;
}
