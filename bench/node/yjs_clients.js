// The clients of bench/yjs_relay.py: one process of senders or of receivers,
// unmodified yjs + y-websocket WebsocketProvider. Several such processes run
// at once so that the clients are not the bottleneck.
//
// node yjs_clients.js '<json>' with json = {url, token?, docs: [names],
// role: "sender" | "receiver", per_doc (receivers per document in this
// process; a sender process has one sender per document)}. Prints
// {"event": "ready"} once every client is synced, then obeys JSON lines on
// stdin:
//   {"cmd": "send", "phase": p, "count": n, "rate": r}  (sender) n updates per
//       document, r per second per document (0: as fast as the sender can, in
//       slices of 50 per document per event-loop turn); answers
//       {"event": "sent", "started", "finished"} (ms);
//   {"cmd": "expect", "phase": p, "count": n, "timeout_ms": t}  (receiver)
//       waits until every receiver has seen the n updates of phase p of its
//       document; answers {"event": "seen", "latencies": [ms], "last", ...};
//   {"cmd": "digest"}  answers every client's text length and hash per document;
//   {"cmd": "close"}  disconnects and exits.
// An update is one sender transaction: a 16-character insert into the text
// `notes` and the key "<phase>:<n>" set in the map `seq` to the send time.
// Times are CLOCK_MONOTONIC (process.hrtime), shared by every process on the
// machine, so a receiver computes each latency itself.
'use strict'

const Y = require('yjs')
const { WebsocketProvider } = require('y-websocket')
const WebSocket = require('ws')
const readline = require('readline')

const config = JSON.parse(process.argv[2] || '{}')
const CHUNK = 'abcdefghijklmnop'
const SLICE = 50
process.setMaxListeners(0) // each provider listens for the process's exit

const now = () => Number(process.hrtime.bigint()) / 1e6
const emit = (message) => process.stdout.write(JSON.stringify(message) + '\n')
const turn = () => new Promise((resolve) => setImmediate(resolve))
const pause = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

function connect (name) {
  const doc = new Y.Doc()
  const provider = new WebsocketProvider(config.url, name, doc, {
    WebSocketPolyfill: WebSocket,
    params: config.token ? { token: config.token } : {},
    disableBc: true,
    maxBackoffTime: 500
  })
  provider.on('connection-close', (event) => {
    if (event && event.code >= 4000) emit({ event: 'closed', code: event.code, reason: String(event.reason || '') })
  })
  return { name, doc, provider }
}

function synced (client) {
  return new Promise((resolve) => {
    if (client.provider.synced) return resolve()
    client.provider.once('sync', (isSynced) => { if (isSynced) resolve() })
  })
}

const perDoc = config.role === 'sender' ? 1 : config.per_doc
const clients = config.docs.flatMap((name) => Array.from({ length: perDoc }, () => connect(name)))

// Receivers: per phase, every latency seen and when the last update arrived.
const phases = new Map()
let waiting = null
function phaseOf (name) {
  if (!phases.has(name)) phases.set(name, { latencies: [], last: 0 })
  return phases.get(name)
}
function settle () {
  if (waiting !== null && phaseOf(waiting.phase).latencies.length >= waiting.target) {
    const done = waiting.resolve
    waiting = null
    done(true)
  }
}
if (config.role === 'receiver') {
  for (const client of clients) {
    const seq = client.doc.getMap('seq')
    seq.observe((event) => {
      const at = now()
      for (const key of event.keysChanged) {
        const phase = phaseOf(key.slice(0, key.indexOf(':')))
        phase.latencies.push(at - seq.get(key))
        phase.last = at
      }
      settle()
    })
  }
}

let sequence = 0
function send (client, phase) {
  const text = client.doc.getText('notes')
  const seq = client.doc.getMap('seq')
  const at = now()
  client.doc.transact(() => {
    text.insert(text.length, CHUNK)
    seq.set(`${phase}:${sequence++}`, at)
  })
}

async function sendPhase ({ phase, count, rate }) {
  const started = now()
  if (rate > 0) {
    const interval = 1000 / rate
    for (let i = 0; i < count; i++) {
      const wait = started + i * interval - now()
      if (wait > 0) await pause(wait)
      for (const client of clients) send(client, phase)
    }
  } else {
    for (let i = 0; i < count;) {
      const end = Math.min(count, i + SLICE)
      for (; i < end; i++) for (const client of clients) send(client, phase)
      await turn()
    }
  }
  return { event: 'sent', phase, started, finished: now(), updates: count * clients.length }
}

async function expectPhase ({ phase, count, timeout_ms: timeoutMs }) {
  const target = count * clients.length
  const complete = await new Promise((resolve) => {
    waiting = { phase, target, resolve }
    settle()
    setTimeout(() => { if (waiting !== null && waiting.phase === phase) { waiting = null; resolve(false) } }, timeoutMs)
  })
  const seen = phaseOf(phase)
  return {
    event: 'seen',
    phase,
    complete,
    expected: target,
    latencies: seen.latencies.map((ms) => Math.round(ms * 1000) / 1000),
    last: seen.last
  }
}

function hash (text) {
  let h = 0x811c9dc5
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193) >>> 0
  return `${text.length}:${h}`
}

async function obey (line) {
  const command = JSON.parse(line)
  if (command.cmd === 'send') return sendPhase(command)
  if (command.cmd === 'expect') return expectPhase(command)
  if (command.cmd === 'digest') {
    const docs = {}
    for (const client of clients) (docs[client.name] = docs[client.name] || []).push(hash(client.doc.getText('notes').toString()))
    return { event: 'digest', docs }
  }
  if (command.cmd === 'close') {
    for (const client of clients) client.provider.destroy()
    process.exit(0)
  }
  return { event: 'error', message: `unknown command ${line}` }
}

async function main () {
  await Promise.all(clients.map(synced))
  emit({ event: 'ready', clients: clients.length })
  const lines = readline.createInterface({ input: process.stdin })
  for await (const line of lines) {
    if (line.trim()) emit(await obey(line))
  }
  process.exit(0) // stdin closed: the parent is gone
}

main().catch((error) => {
  emit({ event: 'error', message: String(error && error.stack ? error.stack : error) })
  process.exit(1)
})
