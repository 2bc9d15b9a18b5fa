import { expect, test } from "vitest";
import { pairResult } from "./pairing";

const report = {
  partner_device: "dev-1",
  partner_user: "idva.jones",
  partner_role: "idva",
  paired_now: true,
  records_sent: 2,
  records_received: 1,
  refused: [],
  refused_by_partner: [],
  bytes_up: 100,
  bytes_down: 200,
  round_trips: 2,
};

test("a session with the partner in plain words", () => {
  expect(pairResult(report)).toBe("Paired with idva.jones (Health IDVA): 2 records sent, 1 record received.");
  expect(pairResult({ ...report, paired_now: false, refused: ["x: why"] })).toBe(
    "Synced with idva.jones (Health IDVA): 2 records sent, 1 record received; 1 record not taken (see the audit log).",
  );
});
