// Collaborative notes: notes(taskId) is a Y.Doc on /sync/yjs/task:<id>:notes;
// an edit made offline is queued as a `ydoc` change and survives a restart.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";

import { PASSWORD, admin, assignedTask, client, link, technician, until } from "./helpers.mjs";

let boss;
before(async () => {
  boss = await admin();
});
after(async () => {
  await boss.close();
});

test("live notes meet; an offline edit is pushed as a ydoc change after a restart", async () => {
  const tech = await technician(boss, "notes");
  const task = await assignedTask(boss, [tech.id]);
  const net = await link();
  let phone = await client(undefined, net.url);
  await phone.login(tech.email, PASSWORD);
  const desk = await client();
  await desk.login(tech.email, PASSWORD);
  const mine = await phone.notes(task);
  const theirs = await desk.notes(task);
  await mine.synced;
  await theirs.synced;
  mine.doc.getText("notes").insert(0, "pump seal ");
  await until(() => theirs.doc.getText("notes").toString() === "pump seal ", "the live edit reaching the other editor");

  net.offline = true;
  await until(() => !mine.provider.wsconnected, "the notes socket to drop");
  const text = mine.doc.getText("notes");
  text.insert(text.length, "replaced offline");
  await until(() => phone.status().pending === 1, "the offline edit queued in the outbox");
  mine.close();
  await phone.close(); // the app restarts before the network is back

  net.offline = false;
  phone = await client(phone.file, net.url);
  assert.equal(phone.status().pending, 1);
  await phone.sync();
  assert.equal(phone.status().pending, 0);
  await until(() => theirs.doc.getText("notes").toString() === "pump seal replaced offline", "the pushed ydoc update reaching the live editor");
  theirs.close();
  await phone.close();
  await desk.close();
  await net.close();
});
