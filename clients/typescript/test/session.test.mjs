// Tokens and close codes against the real server: a lost refresh answer is
// recovered within the reuse grace; a refused token on the socket (4401)
// refreshes and reconnects; a cursor the server never made (4400) restarts
// from the snapshot.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";

import { openNodeSqlite } from "../dist/sqlite-node.js";
import { BASE, PASSWORD, TENANT, admin, assignedTask, client, technician, until } from "./helpers.mjs";

let boss;
before(async () => {
  boss = await admin();
});
after(async () => {
  await boss.close();
});

async function edit(file, change) {
  const storage = await openNodeSqlite(file);
  const auth = JSON.parse(await storage.getMeta("auth"));
  await storage.write(change(auth));
  await storage.close();
  return auth;
}

test("a refresh answer lost on a dying link does not lock the technician out", async () => {
  const tech = await technician(boss, "grace");
  const task = await assignedTask(boss, [tech.id]);
  let phone = await client();
  const file = phone.file;
  await phone.login(tech.email, PASSWORD);
  await phone.sync();
  await phone.close();
  const auth = await edit(file, (a) => [{ op: "setMeta", key: "auth", value: JSON.stringify({ ...a, expiresAt: 0 }) }]);
  // The server rotates the refresh token, but its answer never reaches the phone.
  const lost = await fetch(`${BASE}/auth/refresh`, {
    method: "POST",
    headers: { "Content-Type": "application/json", "X-Tenant": TENANT },
    body: JSON.stringify({ refresh_token: auth.refreshToken }),
  });
  assert.equal(lost.status, 200);
  phone = await client(file);
  await phone.addEvent(task, "note", { text: "after the lost answer" });
  await phone.sync(); // refreshes with the same refresh token: the grace answers the same successor
  assert.equal(phone.status().signedIn, true);
  assert.equal(phone.status().pending, 0);
  await phone.close();
  const stored = await edit(file, () => []);
  assert.notEqual(stored.refreshToken, auth.refreshToken, "the successor was stored");
});

test("4401 on the socket refreshes the token; 4400 for a foreign cursor restarts from the snapshot", async () => {
  const tech = await technician(boss, "codes");
  const task = await assignedTask(boss, [tech.id]);
  let phone = await client();
  const file = phone.file;
  await phone.login(tech.email, PASSWORD);
  await phone.close();
  await edit(file, (a) => [
    { op: "setMeta", key: "auth", value: JSON.stringify({ ...a, accessToken: "not-a-token" }) },
    { op: "setMeta", key: "cursor", value: "bm90IG91ciBjdXJzb3I" },
  ]);
  phone = await client(file);
  const closes = [];
  phone.on("status", (s) => s.lastError?.startsWith("socket closed") && closes.push(s.lastError));
  phone.start();
  await until(() => phone.live.connected, "the socket to catch up");
  assert.ok(closes.includes("socket closed (4401)"), closes.join());
  assert.ok(closes.includes("socket closed (4400)"), closes.join());
  assert.ok(await phone.get("task", task), "the snapshot arrived");
  phone.stop();
  await phone.close();
  const stored = await edit(file, () => []);
  assert.notEqual(stored.accessToken, "not-a-token");
});
