// A technician's day offline, against a real `syncd serve` (SQLite or PostgreSQL).
import assert from "node:assert/strict";
import { after, before, test } from "node:test";

import { OfflineError } from "../dist/index.js";
import { PASSWORD, admin, assignedTask, client, link, rowsOf, technician } from "./helpers.mjs";

let boss;
before(async () => {
  boss = await admin();
});
after(async () => {
  await boss.close();
});

const GEO = { lat: 24.7136, lng: 46.6753, accuracy_m: 8 };
const PHOTO = new Uint8Array([0xff, 0xd8, 0xff, 0xe0, ...Array.from({ length: 2048 }, (_, i) => i % 251), 0xff, 0xd9]);

test("a technician works offline, restarts, comes back and converges with the admin", async () => {
  const tech = await technician(boss, "offline");
  const taskA = await assignedTask(boss, [tech.id], "Replace pump seal");
  const taskB = await assignedTask(boss, [tech.id], "Inspect valve");
  const net = await link();
  let phone = await client(undefined, net.url);
  const file = phone.file;
  await phone.login(tech.email, PASSWORD);
  await phone.sync();
  assert.deepEqual(
    (await phone.all("task")).map((t) => t.id).sort(),
    [taskA, taskB].sort(),
    "the technician's replica holds exactly the assigned tasks",
  );
  const statuses = [];
  phone.on("status", (s) => statuses.push(s));

  net.offline = true;
  await phone.upsert("task", taskA, { description: "seal cracked, pump noisy", priority: "high" });
  await phone.act(taskA, "start", { geo: GEO });
  const noteId = await phone.addEvent(taskA, "note", { text: "found the leak" }, { geo: GEO });
  const purchaseId = await phone.upsert(
    "purchase",
    null,
    { task_id: taskA, vendor: "Riyadh Pumps", amount_minor: 4500, currency: "SAR", purchased_at: "2026-11-24T09:20:00Z" },
    { geo: GEO, clientTime: "2026-11-24T09:20:00Z" },
  );
  const photoId = await phone.addPhoto(taskA, PHOTO, "image/jpeg");
  await phone.upsert("task", taskB, { priority: "urgent" });
  // Local reads see every write at once.
  assert.equal((await phone.get("task", taskA)).status, "in_progress");
  assert.equal((await phone.get("task", taskA)).priority, "high");
  assert.equal((await phone.get("purchase", purchaseId)).vendor, "Riyadh Pumps");
  assert.equal((await phone.get("task_event", noteId)).payload.text, "found the leak");
  await assert.rejects(phone.sync(), OfflineError);
  assert.equal(phone.status().online, false);
  assert.equal(phone.status().pending, 5);
  assert.equal(phone.status().mediaPending, 1);
  assert.ok(statuses.some((s) => s.pending === 5));

  // The app restarts: a new client over the same storage keeps outbox, queue and session.
  await phone.close();
  phone = await client(file, net.url);
  assert.equal(phone.status().pending, 5);
  assert.equal(phone.status().mediaPending, 1);
  assert.equal((await phone.get("task", taskA)).status, "in_progress");

  net.offline = false;
  const done = await phone.sync();
  assert.equal(done.pushed, 5);
  assert.equal(await phone.syncMedia(), 1, "the photo is declared, uploaded by its presigned URL and completed");
  await phone.sync();
  assert.equal(phone.status().pending, 0);
  assert.equal(phone.status().mediaPending, 0);

  await boss.sync();
  for (const entity of ["task", "task_event", "purchase"]) {
    assert.deepEqual(await rowsOf(phone, entity, [taskA, taskB]), await rowsOf(boss, entity, [taskA, taskB]), `${entity} converged`);
  }
  const timeline = await boss.all("task_event", { task_id: taskA });
  const started = timeline.find((e) => e.kind === "started");
  assert.equal(started.lat, GEO.lat);
  assert.equal(started.lng, GEO.lng);
  assert.ok(timeline.some((e) => e.kind === "purchase_added"));
  assert.ok(timeline.some((e) => e.kind === "media_added"), "the photo reached the task's timeline");
  const media = await boss.api.request("get", "/media/{media_id}", { path: { media_id: photoId } });
  assert.equal(media.ok, true);
  assert.equal(media.data.size, PHOTO.byteLength);
  assert.equal((await boss.get("task", taskA)).status, "in_progress");
  assert.equal((await boss.get("task", taskB)).priority, "urgent");
  await phone.close();
  await net.close();
});

test("a photo whose upload keeps failing never holds back the records", async () => {
  const tech = await technician(boss, "photo");
  const task = await assignedTask(boss, [tech.id]);
  const phone = await client();
  await phone.login(tech.email, PASSWORD);
  await phone.sync();
  // A photo for a task the server does not know: declared with unknown_owner, retried later.
  await phone.addPhoto(globalThis.crypto.randomUUID(), PHOTO);
  await phone.addEvent(task, "note", { text: "records first" });
  await phone.sync();
  assert.equal(phone.status().pending, 0, "the record went out");
  assert.equal(await phone.syncMedia(), 0);
  assert.equal(phone.status().mediaPending, 1, "the photo waits for its own retry");
  await boss.sync();
  assert.ok((await boss.all("task_event", { task_id: task })).some((e) => e.payload?.text === "records first"));
  await phone.close();
});

test("a conflict from two clients reaches the inbox; both hold the admin's resolution", async () => {
  const tech = await technician(boss, "conflict");
  const task = await assignedTask(boss, [tech.id]);
  const one = await client();
  const two = await client();
  await one.login(tech.email, PASSWORD);
  await two.login(tech.email, PASSWORD);
  await one.sync();
  await two.sync();
  const conflicts = [];
  two.on("conflict", (c) => conflicts.push(c));
  await one.upsert("task", task, { priority: "high" });
  await one.sync();
  await two.upsert("task", task, { priority: "low" });
  await two.sync();
  assert.equal(conflicts.length, 1, "the second device hears of the conflict");
  const conflictId = conflicts[0].result.conflict_id;
  const inbox = await boss.api.request("get", "/conflicts", { query: { status: "open" } });
  assert.ok(inbox.data.items.some((c) => c.id === conflictId && c.entity_id === task));
  const resolved = await boss.api.request("post", "/conflicts/{conflict_id}/resolve", {
    path: { conflict_id: conflictId },
    body: { resolution: "custom", values: { priority: "urgent" } },
  });
  assert.equal(resolved.ok, true, JSON.stringify(resolved.problem));
  await one.sync();
  await two.sync();
  assert.equal((await one.get("task", task)).priority, "urgent");
  assert.equal((await two.get("task", task)).priority, "urgent");
  assert.deepEqual(await one.get("task", task), await two.get("task", task));
  await one.close();
  await two.close();
});

test("unassigning a task removes it and its rows from the technician's replica", async () => {
  const tech = await technician(boss, "unassign");
  const keep = await assignedTask(boss, [tech.id], "stays");
  const gone = await assignedTask(boss, [tech.id], "leaves");
  const phone = await client();
  await phone.login(tech.email, PASSWORD);
  await phone.addEvent(gone, "note", { text: "before unassign" });
  await phone.sync();
  assert.ok((await phone.all("task_event", { task_id: gone })).length > 0);
  await boss.act(gone, "unassign", { userId: tech.id });
  await boss.sync();
  await phone.sync();
  assert.equal(await phone.get("task", gone), null);
  assert.deepEqual(await phone.all("task_event", { task_id: gone }), []);
  assert.ok(await phone.get("task", keep));
  await phone.close();
});

test("a rejected change reaches the app with its problem and undoes itself", async () => {
  const tech = await technician(boss, "reject");
  const task = await assignedTask(boss, [tech.id]);
  const phone = await client();
  await phone.login(tech.email, PASSWORD);
  await phone.sync();
  const rejected = [];
  phone.on("rejected", (r) => rejected.push(r));
  await phone.remove("task", task); // technicians do not delete tasks
  assert.equal(await phone.get("task", task), null);
  await phone.sync();
  assert.equal(rejected.length, 1);
  assert.equal(rejected[0].problem.code, "forbidden");
  assert.ok(await phone.get("task", task), "the refused delete no longer shows");
  await phone.close();
});
