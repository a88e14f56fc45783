// Live sync over /sync/ws: changes flow both ways without sync(), a cut link resumes from the cursor.
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

test("two live clients exchange changes, and resume after the link is cut", async () => {
  const tech = await technician(boss, "live");
  const task = await assignedTask(boss, [tech.id]);
  const net = await link();
  const phone = await client(undefined, net.url);
  const desk = await client();
  await phone.login(tech.email, PASSWORD);
  await desk.login(tech.email, PASSWORD);
  const seen = [];
  desk.watch("task_event", { task_id: task }, (rows) => seen.push(rows.length));
  phone.start();
  desk.start();
  await until(() => phone.live.connected && desk.live.connected, "both sockets caught up");
  assert.ok(await phone.get("task", task), "the snapshot arrived over the socket");

  const first = await phone.addEvent(task, "note", { text: "live one" });
  await until(async () => (await desk.get("task_event", first)) !== null, "the note reaching the other device");
  await until(() => phone.status().pending === 0, "the phone's outbox draining");

  net.offline = true; // the socket dies; writes keep working
  const second = await phone.addEvent(task, "note", { text: "while cut" });
  await phone.upsert("task", task, { description: "written while the link was down" });
  assert.equal(phone.status().pending, 2);
  net.offline = false;
  await until(async () => (await desk.get("task_event", second)) !== null, "the offline note after reconnecting");
  await until(async () => (await desk.get("task", task))?.description === "written while the link was down", "the task edit");
  await until(() => phone.status().pending === 0, "the phone's outbox draining again");
  assert.ok(phone.live.connects >= 2, "the phone reconnected");
  assert.ok(seen.length >= 2, "watch() called back as rows arrived");
  phone.stop();
  desk.stop();
  await phone.close();
  await desk.close();
  await net.close();
});
