// The chat page: the official phoenix client (served from the example's node_modules) talking
// to beamish channels. One `session:me` channel (the browser's SessionProcess: nickname, rooms
// joined, unread counts), one `room:NAME` channel per joined room, with Presence per room.
import { Socket, Presence } from "/static/phoenix.mjs";

const $ = (id) => document.getElementById(id);
const rooms = new Map(); // name -> {channel, presence, messages: Map(id -> message), unread, pid}
let viewing = null;
let nickname = "";
let typingTimer = null;
let typing = false;

const socket = new Socket("/socket", { params: {} });
socket.connect();
const session = socket.channel("session:me", {});
window.chat = { socket, rooms, session }; // for the browser tests

session.on("unread", ({ room, count }) => setUnread(room, count));
session.join().receive("ok", (state) => {
  nickname = state.nickname;
  $("nick").value = nickname;
  $("node").textContent = state.node;
  for (const name of state.available) rooms.set(name, null);
  for (const name of state.rooms) joinRoom(name, state.unread[name] || 0);
  renderRooms();
  view(state.viewing && state.rooms.includes(state.viewing) ? state.viewing : state.rooms[0]);
});

function joinRoom(name, unread = 0) {
  // params as a function: a rejoin (after a crash or a reconnect) sends the current nickname
  const channel = socket.channel(`room:${name}`, () => ({ nick: nickname }));
  const room = { channel, presence: new Presence(channel), messages: new Map(), unread, pid: null, joined: false };
  rooms.set(name, room);
  room.presence.onSync(() => name === viewing && renderOnline());
  channel.on("message", (message) => {
    addMessage(name, message);
    if (name !== viewing) setUnread(name, room.unread + 1);
  });
  channel.onError(() => {
    room.joined = false;
    status(name, "the room crashed: its supervisor restarts it; rejoining…", true);
  });
  channel.join()
    .receive("ok", (reply) => {
      const before = room.pid;
      room.pid = reply.room;
      room.joined = true;
      for (const message of reply.history) addMessage(name, message);
      if (before && before !== reply.room) {
        addMessage(name, { id: `restart-${reply.room}`, system: true,
          body: `room restarted by its supervisor: ${before} → ${reply.room}` });
      }
      status(name, `joined · room process ${reply.room} on ${reply.node}`);
    })
    .receive("error", (reply) => status(name, `join refused: ${reply.reason}; retrying…`, true));
  return room;
}

function view(name) {
  viewing = name;
  $("room-title").textContent = `#${name}`;
  $("online-room").textContent = `#${name}`;
  const room = rooms.get(name);
  setUnread(name, 0);
  session.push("view", { room: name });
  renderMessages();
  renderOnline();
  $("room-status").textContent = room.statusText || "";
  $("room-status").className = room.statusError ? "status error" : "status";
}

function status(name, text, error = false) {
  const room = rooms.get(name);
  room.statusText = text;
  room.statusError = error;
  if (name === viewing) {
    $("room-status").textContent = text;
    $("room-status").className = error ? "status error" : "status";
  }
}

function setUnread(name, count) {
  const room = rooms.get(name);
  if (room) room.unread = count;
  renderRooms();
}

function addMessage(name, message) {
  const room = rooms.get(name);
  if (room.messages.has(message.id)) return; // a rejoin's history repeats what we have
  room.messages.set(message.id, message);
  if (name === viewing) $("messages").append(messageItem(message));
  $("messages").scrollTop = $("messages").scrollHeight;
}

function messageItem(message) {
  const li = document.createElement("li");
  if (message.system) {
    li.className = "system";
    li.textContent = message.body;
    return li;
  }
  const at = document.createElement("span");
  at.className = "at";
  at.textContent = new Date(message.at * 1000).toLocaleTimeString();
  const from = document.createElement("span");
  from.className = "from";
  from.textContent = message.from;
  li.append(at, from, document.createTextNode(message.body));
  li.dataset.from = message.from;
  return li;
}

function renderMessages() {
  const list = $("messages");
  list.replaceChildren(...[...rooms.get(viewing).messages.values()].map(messageItem));
  list.scrollTop = list.scrollHeight;
}

function renderRooms() {
  const items = [...rooms.entries()].map(([name, room]) => {
    const li = document.createElement("li");
    li.dataset.room = name;
    li.className = (name === viewing ? "active " : "") + (room ? "" : "not-joined");
    li.textContent = `#${name}`;
    if (room && room.unread > 0) {
      const badge = document.createElement("span");
      badge.className = "unread";
      badge.textContent = room.unread;
      li.append(badge);
    }
    li.onclick = () => {
      if (!rooms.get(name)) {
        joinRoom(name);
        session.push("join_room", { room: name });
      }
      view(name);
    };
    return li;
  });
  $("rooms").replaceChildren(...items);
}

function renderOnline() {
  const room = rooms.get(viewing);
  if (!room) return;
  const people = room.presence.list((id, { metas }) => ({
    id,
    nick: metas[metas.length - 1].nick,
    typing: metas.some((meta) => meta.typing),
    nodes: [...new Set(metas.map((meta) => meta.node))],
  }));
  $("online").replaceChildren(...people.map((person) => {
    const li = document.createElement("li");
    li.dataset.user = person.nick;
    li.textContent = person.nick + " ";
    const where = document.createElement("span");
    where.className = "who-node";
    where.textContent = person.nodes.join(", ");
    li.append(where);
    if (person.typing) {
      const mark = document.createElement("span");
      mark.className = "typing-mark";
      mark.textContent = " typing…";
      li.append(mark);
    }
    return li;
  }));
  const typists = people.filter((p) => p.typing && p.nick !== nickname).map((p) => p.nick);
  $("typing").textContent = typists.length ? `${typists.join(", ")} ${typists.length > 1 ? "are" : "is"} typing…` : "";
}

function setTyping(now) {
  if (typing === now) return;
  typing = now;
  rooms.get(viewing)?.channel.push("typing", { typing: now });
}

$("body").addEventListener("input", () => {
  setTyping($("body").value.length > 0);
  clearTimeout(typingTimer);
  typingTimer = setTimeout(() => setTyping(false), 2000);
});

$("say").addEventListener("submit", (event) => {
  event.preventDefault();
  const body = $("body").value.trim();
  if (!body) return;
  rooms.get(viewing).channel.push("say", { body });
  $("body").value = "";
  clearTimeout(typingTimer);
  setTyping(false);
});

$("nick").addEventListener("change", () => {
  const wanted = $("nick").value.trim();
  session.push("nick", { nick: wanted })
    .receive("ok", ({ nick }) => {
      nickname = nick;
      $("nick").value = nick;
      for (const room of rooms.values()) room?.channel.push("nick", { nick });
    })
    .receive("error", ({ reason }) => { $("nick").value = nickname; alert(reason); });
});

$("crash").addEventListener("click", () => rooms.get(viewing).channel.push("crash", {}));
