// The flaky-network run: N technician clients (better-sqlite3 replicas) work
// through a faulty link (SYNCD_PROXY_URL: tests/support/faultproxy.py in front of
// SYNCD_URL) while the server is SIGKILLed once and restarted by the driver
// (tests/e2e/clients/test_typescript_fleet.py). Half of the clients sync by HTTP,
// half live over /sync/ws. Protocol on stdout: "half" once half the writes
// are in the outboxes (the driver then kills and restarts the server; it
// answers "restarted" on stdin), and a last JSON line with the verdict.
import readline from "node:readline";

import { PASSWORD, admin, assignedTask, client, rowsOf, technician } from "../test/helpers.mjs";

const CLIENTS = Number(process.env.FLEET_CLIENTS ?? 5);
const WRITES = Number(process.env.FLEET_WRITES ?? 24);
const PROXY = process.env.SYNCD_PROXY_URL;
const ENTITIES = ["task", "task_event", "purchase"];

function canonical(value) {
  if (Array.isArray(value)) return `[${value.map(canonical).join(",")}]`;
  if (value && typeof value === "object")
    return `{${Object.keys(value).sort().map((k) => `${JSON.stringify(k)}:${canonical(value[k])}`).join(",")}}`;
  return JSON.stringify(value) ?? "undefined";
}

const input = readline.createInterface({ input: process.stdin });
const lines = input[Symbol.asyncIterator]();
const say = (line) => process.stdout.write(`${typeof line === "string" ? line : JSON.stringify(line)}\n`);

async function settle(c, live) {
  // Retry through faults and the restart until the outbox is empty and a pull ends.
  for (let attempt = 0; attempt < 200; attempt++) {
    try {
      if (live && c.status().pending > 0) {
        await new Promise((resolve) => setTimeout(resolve, 100));
        continue;
      }
      await c.sync();
      if (c.status().pending === 0) return;
    } catch {
      await new Promise((resolve) => setTimeout(resolve, 100 + Math.random() * 200));
    }
  }
}

const boss = await admin();
const devices = [];
for (let n = 0; n < CLIENTS; n++) {
  const tech = await technician(boss, `fleet${n}`);
  const tasks = [await assignedTask(boss, [tech.id], `fleet ${n} a`), await assignedTask(boss, [tech.id], `fleet ${n} b`)];
  const c = await client(undefined, PROXY);
  for (;;) {
    try {
      await c.login(tech.email, PASSWORD);
      break;
    } catch {
      // a fault cut the sign-in: try again
    }
  }
  const device = { n, c, tasks, tech, live: n % 2 === 1, written: [] };
  if (device.live) c.start();
  else await settle(c, false);
  devices.push(device);
}

async function work(device, from, to) {
  const { c, tasks } = device;
  for (let i = from; i < to; i++) {
    const task = tasks[i % tasks.length];
    const text = `d${device.n}-w${i}`;
    if (i % 3 === 0) device.written.push(["task_event", await c.addEvent(task, "note", { text })]);
    else if (i % 3 === 1) await c.upsert("task", task, { description: text });
    else
      device.written.push([
        "purchase",
        await c.upsert("purchase", null, { task_id: task, vendor: text, amount_minor: i + 1, currency: "EUR", purchased_at: new Date().toISOString() }),
      ]);
    if (!device.live && i % 4 === 3) await c.sync().catch(() => undefined);
  }
}

await Promise.all(devices.map((d) => work(d, 0, WRITES / 2)));
say("half");
await Promise.all([lines.next(), ...devices.map((d) => work(d, WRITES / 2, WRITES))]);

// Converge: everyone drains and pulls; the live ones stop and pull once more.
await Promise.all(devices.map((d) => settle(d.c, d.live)));
for (const d of devices) d.c.stop();
await Promise.all(devices.map((d) => settle(d.c, false)));
await boss.sync();

let divergent = 0;
let lost = 0;
let duplicated = 0;
let stuck = 0;
const details = [];
for (const d of devices) {
  if (d.c.status().pending > 0 || d.c.status().mediaPending > 0) {
    stuck++;
    details.push(`device ${d.n}: ${d.c.status().pending} pending`);
  }
  for (const entity of ENTITIES) {
    const mine = await rowsOf(d.c, entity, d.tasks);
    const theirs = await rowsOf(boss, entity, d.tasks);
    if (canonical(mine) !== canonical(theirs)) {
      divergent++;
      const ids = [...new Set([...Object.keys(mine), ...Object.keys(theirs)])];
      const first = ids.find((id) => canonical(mine[id]) !== canonical(theirs[id]));
      details.push(`device ${d.n}: ${entity} differs, e.g. ${first}: ${canonical(mine[first])} vs ${canonical(theirs[first])}`);
    }
  }
  for (const [entity, id] of d.written) if (!(await boss.get(entity, id))) lost++;
  const notes = await boss.all("task_event", (row) => d.tasks.includes(row.task_id) && row.kind === "note");
  const texts = notes.map((row) => row.payload.text);
  duplicated += texts.length - new Set(texts).size;
  const vendors = (await boss.all("purchase", (row) => d.tasks.includes(row.task_id))).map((row) => row.vendor);
  duplicated += vendors.length - new Set(vendors).size;
  const expected = d.written.length;
  if (notes.length + vendors.length !== expected) details.push(`device ${d.n}: ${notes.length + vendors.length} of ${expected} records`);
}
const writes = devices.reduce((sum, d) => sum + d.written.length, 0);
say({ clients: devices.length, records: writes, divergent, lost, duplicated, stuck, reconnects: devices.reduce((s, d) => s + d.c.live.connects, 0), details });
for (const d of devices) await d.c.close();
await boss.close();
input.close();
