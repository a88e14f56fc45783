// The clients of bench/yjs_relay.py: one sender and K receivers, unmodified
// yjs + y-websocket WebsocketProvider, all in this process (one clock).
//
// node yjs_relay.js '<json>' with json = {url, doc, token?, receivers, updates,
// latency_updates, rate, warmup, timeout_ms}. Every update is one Yjs
// transaction of the sender: a 16-character insert into the text `notes` and
// its sequence number set as a key of the map `seq`; a receiver stamps a number
// when the map's observer sees it (keysChanged: no walk over the whole type). Phases:
//   warm-up:    `warmup` updates, waited for at every receiver;
//   throughput: `updates` updates sent as fast as the sender can, in slices
//               of 100 per event-loop turn; updates/s = updates over the time
//               from the first send to the last update seen by every receiver;
//   latency:    `latency_updates` updates at `rate` per second; per update and
//               receiver, the time from the sender's transaction to the receiver.
// Prints one JSON line: {"event": "done", ...} or {"event": "error", ...}.
'use strict'

const Y = require('yjs')
const { WebsocketProvider } = require('y-websocket')
const WebSocket = require('ws')
const { performance } = require('perf_hooks')

const config = JSON.parse(process.argv[2] || '{}')
const CHUNK = 'abcdefghijklmnop'
process.setMaxListeners(0) // each provider listens for the process's exit

function emit (message) {
  process.stdout.write(JSON.stringify(message) + '\n')
}

function connect () {
  const doc = new Y.Doc()
  const provider = new WebsocketProvider(config.url, config.doc, doc, {
    WebSocketPolyfill: WebSocket,
    params: config.token ? { token: config.token } : {},
    disableBc: true,
    maxBackoffTime: 500
  })
  provider.on('connection-close', (event) => {
    if (event && event.code >= 4000) emit({ event: 'closed', code: event.code, reason: String(event.reason || '') })
  })
  return { doc, provider }
}

function synced (client) {
  return new Promise((resolve) => {
    if (client.provider.synced) return resolve()
    client.provider.once('sync', (isSynced) => { if (isSynced) resolve() })
  })
}

const sentAt = new Map() // sequence number -> performance.now() at the sender's transaction
const seenAt = [] // per receiver: sequence number -> time seen
const phase = { from: 0, seen: 0, target: null, resolve: null, last: 0 }

function startPhase () {
  Object.assign(phase, { from: next, seen: 0, target: null, resolve: null, last: 0 })
}

function settle () {
  if (phase.target !== null && phase.seen >= phase.target) {
    const resolve = phase.resolve
    phase.target = null
    resolve(phase.last)
  }
}

// resolves with the time the last receiver saw the last update of the phase
function allSeen () {
  return new Promise((resolve) => {
    Object.assign(phase, { target: seenAt.length * (next - phase.from), resolve })
    settle()
  })
}

let next = 0
function send (sender) {
  const n = next++
  const text = sender.doc.getText('notes')
  const seq = sender.doc.getMap('seq')
  sentAt.set(n, performance.now())
  sender.doc.transact(() => {
    text.insert(text.length, CHUNK)
    seq.set(String(n), 1)
  })
  return n
}

const pause = (ms) => new Promise((resolve) => setTimeout(resolve, ms))
const turn = () => new Promise((resolve) => setImmediate(resolve))

function quantile (sorted, q) {
  if (sorted.length === 0) return null
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.round(q * sorted.length) - 1))]
}

async function main () {
  const sender = connect()
  const receivers = []
  for (let i = 0; i < config.receivers; i++) {
    const client = connect()
    const seen = new Map()
    seenAt.push(seen)
    client.doc.getMap('seq').observe((event) => {
      const now = performance.now()
      for (const key of event.keysChanged) {
        const n = Number(key)
        seen.set(n, now)
        if (n >= phase.from) { phase.seen++; phase.last = now }
      }
      settle()
    })
    receivers.push(client)
  }
  await Promise.all([sender, ...receivers].map(synced))

  startPhase()
  for (let i = 0; i < config.warmup; i++) { send(sender); await pause(2) }
  await allSeen()

  startPhase()
  const from = next
  const started = performance.now()
  while (next - from < config.updates) {
    for (let i = 0; i < 100 && next - from < config.updates; i++) send(sender)
    await turn()
  }
  const sentIn = performance.now() - started
  const finished = await allSeen()
  const throughput = {
    updates: config.updates,
    seconds: (finished - started) / 1000,
    send_seconds: sentIn / 1000,
    updates_per_s: config.updates / ((finished - started) / 1000)
  }

  startPhase()
  const latencyFrom = next
  const interval = 1000 / config.rate
  const start = performance.now()
  for (let i = 0; i < config.latency_updates; i++) {
    const wait = start + i * interval - performance.now()
    if (wait > 0) await pause(wait)
    send(sender)
  }
  await allSeen()
  const latencies = []
  for (const seen of seenAt) {
    for (let n = latencyFrom; n < next; n++) latencies.push(seen.get(n) - sentAt.get(n))
  }
  latencies.sort((a, b) => a - b)
  const texts = new Set([sender, ...receivers].map((c) => c.doc.getText('notes').toString()))
  for (const client of [sender, ...receivers]) client.provider.destroy()
  emit({
    event: 'done',
    receivers: config.receivers,
    throughput,
    latency: {
      updates: config.latency_updates,
      rate_per_s: config.rate,
      samples: latencies.length,
      p50_ms: quantile(latencies, 0.5),
      p99_ms: quantile(latencies, 0.99),
      max_ms: latencies[latencies.length - 1]
    },
    converged: texts.size === 1
  })
}

const timer = setTimeout(() => {
  emit({ event: 'error', message: 'timeout', seen: seenAt.map((s) => s.size), sent: next })
  process.exit(2)
}, config.timeout_ms || 120000)
main().then(() => { clearTimeout(timer); process.exit(0) }, (error) => {
  emit({ event: 'error', message: String(error && error.stack ? error.stack : error) })
  process.exit(1)
})
