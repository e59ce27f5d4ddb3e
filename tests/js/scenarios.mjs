// Drives a beamish.channels endpoint with the official phoenix client.
//   node scenarios.mjs <base url, e.g. ws://127.0.0.1:4000/socket> <websocket|longpoll> <scenario>
// Prints one JSON object (the observations) on stdout; tests/channels/test_phoenix_js.py asserts it.
import { WebSocket } from "ws"
import { Socket, LongPoll, Presence } from "phoenix"

globalThis.WebSocket = WebSocket

const [url, transportName, scenario, ...rest] = process.argv.slice(2)
const transport = transportName === "longpoll" ? LongPoll : WebSocket
const out = {}

function withTimeout(promise, what, ms = 8000) {
  return Promise.race([
    promise,
    new Promise((_, reject) => setTimeout(() => reject(new Error(`timeout: ${what}`)), ms)),
  ])
}

function connect(params = {}, opts = {}) {
  const socket = new Socket(url, { transport, params, reconnectAfterMs: () => 50, ...opts })
  socket.connect()
  return socket
}

function opened(socket) {
  return withTimeout(new Promise((resolve) => socket.onOpen(resolve)), "socket open")
}

function join(channel) {
  return withTimeout(
    new Promise((resolve) => {
      channel.join()
        .receive("ok", (r) => resolve({ status: "ok", response: r }))
        .receive("error", (r) => resolve({ status: "error", response: r }))
    }),
    `join ${channel.topic}`,
  )
}

function push(channel, event, payload) {
  return withTimeout(
    new Promise((resolve) => {
      channel.push(event, payload)
        .receive("ok", (r) => resolve({ status: "ok", response: decode(r) }))
        .receive("error", (r) => resolve({ status: "error", response: decode(r) }))
    }),
    `push ${event}`,
  )
}

function next(channel, event) {
  return withTimeout(
    new Promise((resolve) => {
      const ref = channel.on(event, (payload) => {
        channel.off(event, ref)
        resolve(decode(payload))
      })
    }),
    `event ${event}`,
  )
}

function decode(value) {
  if (value instanceof ArrayBuffer) return { binary: Array.from(new Uint8Array(value)) }
  return value
}

const scenarios = {
  async basic() {
    const socket = connect({ user: "ann" })
    await opened(socket)
    const room = socket.channel("room:a", { hello: 1 })
    const welcome = next(room, "welcome")
    out.join = await join(room)
    out.welcome = await welcome
    out.echo = await push(room, "echo", { x: 1 })
    out.refuse = await push(room, "refuse", {})
    const pushed = next(room, "pushed")
    await room.push("push_me", { p: 2 })
    out.pushed = await pushed
    const shout = next(room, "shout")
    out.shout_reply = await push(room, "shout", { s: 3 })
    out.shout = await shout
    out.later = await push(room, "later", { l: 4 })
    out.lookup = await push(room, "lookup", {})
    const filtered = next(room, "filtered")
    await push(room, "filtered", { f: 5 })
    out.filtered = await filtered
    out.refused_join = await join(socket.channel("room:b", { refuse: true }))
    out.crashed_join = await join(socket.channel("room:c", { crash_join: true }))
    out.unmatched = await join(socket.channel("nope:x", {}))
    if (transportName === "websocket") {
      out.ping = await withTimeout(new Promise((resolve) => socket.ping((rtt) => resolve(rtt >= 0))), "ping")
    }
    out.leave = await withTimeout(new Promise((resolve) => room.leave().receive("ok", () => resolve("ok"))), "leave")
    socket.disconnect()
  },

  async binary() {
    const socket = connect({ user: "bin" })
    await opened(socket)
    const room = socket.channel("room:bin", {})
    out.join = await join(room)
    out.echo = await push(room, "binary_echo", new Uint8Array([1, 2, 3]).buffer)
    const pushed = next(room, "binary_pushed")
    room.push("binary_push", {})
    out.pushed = await pushed
    const shout = next(room, "binary_shout")
    await push(room, "binary_shout", {})
    out.shout = await shout
    socket.disconnect()
  },

  async crash_rejoin() {
    const socket = connect({ user: "crash" })
    await opened(socket)
    const room = socket.channel("room:crash", {}, { rejoinAfterMs: () => 50 })
    let joins = 0
    let rejoined
    const rejoin = new Promise((resolve) => (rejoined = resolve))
    const errored = new Promise((resolve) => room.onError((r) => resolve(r ?? null)))
    room.join().receive("ok", () => {
      joins += 1
      if (joins === 2) rejoined()
    })
    await withTimeout(new Promise((resolve) => { const t = setInterval(() => { if (joins === 1) { clearInterval(t); resolve() } }, 10) }), "first join")
    room.push("crash", {})
    await withTimeout(errored, "phx_error")
    out.errored = true
    await withTimeout(rejoin, "rejoin")
    out.joins = joins
    out.echo_after = await push(room, "echo", { again: true })
    socket.disconnect()
  },

  async stop() {
    const socket = connect({ user: "stopper" })
    await opened(socket)
    const room = socket.channel("room:stop", {})
    out.join = await join(room)
    const closed = new Promise((resolve) => room.onClose(() => resolve(true)))
    out.reply = await push(room, "stop", {})
    out.closed = await withTimeout(closed, "phx_close")
    out.state = room.state
    socket.disconnect()
  },

  async disconnect() {
    const socket = connect({ user: "dis" })
    let opens = 0
    let reopened
    const reopen = new Promise((resolve) => (reopened = resolve))
    socket.onOpen(() => { opens += 1; if (opens === 2) reopened() })
    const closed = new Promise((resolve) => socket.onClose((e) => resolve(e?.code ?? null)))
    const room = socket.channel("room:dis", {})
    let joins = 0
    let rejoined
    const rejoin = new Promise((resolve) => (rejoined = resolve))
    room.join().receive("ok", () => { joins += 1; if (joins === 2) rejoined() })
    await withTimeout(new Promise((resolve) => { const t = setInterval(() => { if (joins === 1) { clearInterval(t); resolve() } }, 10) }), "join")
    room.push("disconnect_me", {})
    out.close_code = await withTimeout(closed, "close")
    await withTimeout(reopen, "reconnect")
    await withTimeout(rejoin, "rejoin")
    out.opens = opens
    out.joins = joins
    socket.disconnect()
  },

  async silent() {
    // heartbeats far apart: the server's heartbeat_timeout (short in this test) closes us
    const socket = connect({ user: "quiet" }, { heartbeatIntervalMs: 600000, reconnectAfterMs: () => 600000 })
    await opened(socket)
    const closed = new Promise((resolve) => socket.onClose((e) => resolve(e?.code ?? null)))
    const started = Date.now()
    out.close_code = await withTimeout(closed, "server idle close", 15000)
    out.after_ms = Date.now() - started
    socket.disconnect()
  },

  async refused() {
    const socket = connect({ reject: "yes" }, { reconnectAfterMs: () => 600000 })
    out.error = await withTimeout(new Promise((resolve) => socket.onError(() => resolve(true))), "refused")
    out.connected = socket.isConnected()
    socket.disconnect()
  },

  async fanout() {
    const a = connect({ user: "a" })
    const b = connect({ user: "b" })
    await Promise.all([opened(a), opened(b)])
    const ra = a.channel("room:fan", {})
    const rb = b.channel("room:fan", {})
    await join(ra)
    await join(rb)
    const gotB = next(rb, "shout")
    await push(ra, "shout", { from: "a" })
    out.b_got = await gotB
    // broadcast_from: b gets it, a does not (a's next "shout" is the one a sends after)
    const aEvents = []
    ra.on("shout", (p) => aEvents.push(p))
    const gotB2 = next(rb, "shout")
    await push(ra, "shout_others", { n: 2 })
    out.b_got_others = await gotB2
    const gotA = next(ra, "filtered")
    await push(rb, "filtered", { n: 3 })
    out.a_filtered = await gotA
    out.a_shouts = aEvents
    a.disconnect()
    b.disconnect()
  },

  async presence() {
    // alice joins, then bob (on the server given as the 4th argument, if any): each sees
    // both; bob leaves: alice sees only herself. Lists are sorted user names.
    const bobUrl = rest[0] || url
    const a = connect({ user: "alice" })
    const b = new Socket(bobUrl, { transport, params: { user: "bob" }, reconnectAfterMs: () => 50 })
    b.connect()
    await Promise.all([opened(a), opened(b)])
    const ca = a.channel("presence:lobby", {})
    const cb = b.channel("presence:lobby", {})
    const pa = new Presence(ca)
    const pb = new Presence(cb)
    const names = (p) => p.list((key) => key).sort()
    const until = (p, want, what) => withTimeout(new Promise((resolve) => {
      const check = () => { if (JSON.stringify(names(p)) === JSON.stringify(want)) resolve(names(p)) }
      p.onSync(check)
      check()
    }), what)
    const joins = []
    const leaves = []
    pa.onJoin((key, current, joined) => joins.push([key, joined.metas.length]))
    pa.onLeave((key, current, left) => leaves.push([key, current.metas.length]))
    out.alice_join = await join(ca)
    out.alice_alone = await until(pa, ["alice"], "alice sees herself")
    out.bob_join = await join(cb)
    out.alice_sees = await until(pa, ["alice", "bob"], "alice sees bob")
    out.bob_sees = await until(pb, ["alice", "bob"], "bob sees alice")
    out.meta = pa.list((key, p) => ({ key, online: p.metas[0].online, ref: typeof p.metas[0].phx_ref }))
    await withTimeout(new Promise((resolve) => cb.leave().receive("ok", resolve)), "bob leaves")
    out.after_leave = await until(pa, ["alice"], "bob left")
    out.joins = joins
    out.leaves = leaves
    a.disconnect()
    b.disconnect()
  },

  async listen() {
    // join and report every "shout" until told to stop by a "shout" with {"last": true}
    const [topic, user] = rest
    const socket = connect({ user })
    await opened(socket)
    const room = socket.channel(topic, {})
    const got = []
    let done
    const finished = new Promise((resolve) => (done = resolve))
    room.on("shout", (p) => { got.push(p); if (p.last) done() })
    out.join = await join(room)
    console.log(JSON.stringify({ ready: true }))
    await withTimeout(finished, "last shout", 15000)
    out.got = got
    socket.disconnect()
  },
}

try {
  await scenarios[scenario]()
  out.ok = true
} catch (error) {
  out.ok = false
  out.error = String(error?.stack ?? error)
}
console.log(JSON.stringify(out))
process.exit(0)
