// The sandbox page's core: shared state, the control-API helper, loading the world and
// following the emulator's server-sent events. chat.js and panel.js render from the state
// kept here; they register their handlers on `sandbox` before this file runs.
"use strict";

(function () {
  const sandbox = window.sandbox;

  // ---------------------------------------------------------------- control API

  sandbox.api = async function api(method, path, body) {
    const init = { method, headers: {} };
    if (body !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    const response = await fetch(path, init);
    let data = null;
    try {
      data = await response.json();
    } catch (error) {
      data = null;
    }
    if (!response.ok) {
      const message = (data && data.error) || `${method} ${path}: HTTP ${response.status}`;
      const failure = new Error(message);
      failure.status = response.status;
      failure.data = data;
      throw failure;
    }
    return data;
  };

  let toastTimer = null;
  sandbox.toast = function toast(text, kind) {
    const element = document.getElementById("toast");
    element.textContent = text;
    element.className = `toast show ${kind || ""}`;
    clearTimeout(toastTimer);
    toastTimer = setTimeout(() => { element.className = "toast"; }, 3500);
  };

  // ---------------------------------------------------------------- messages

  // Upsert a MessageView; returns the stored one.
  sandbox.storeMessage = function storeMessage(message) {
    const known = sandbox.messages.get(message.id);
    sandbox.messages.set(message.id, message);
    if (!known) {
      const list = sandbox.byConversation.get(message.conversation_id) || [];
      list.push(message.id);
      list.sort((a, b) => sandbox.messages.get(a).created_at - sandbox.messages.get(b).created_at);
      sandbox.byConversation.set(message.conversation_id, list);
    }
    return message;
  };

  async function loadTranscripts() {
    for (const conversation of sandbox.conversations) {
      const data = await sandbox.api("GET", `/_emulator/conversations/${encodeURIComponent(conversation.id)}/messages`);
      for (const message of data.messages) {
        sandbox.storeMessage(message);
        sandbox.emit("message", message, { replay: true });
      }
    }
  }

  // ---------------------------------------------------------------- events

  function setLink(up) {
    const link = document.getElementById("link");
    link.classList.toggle("up", up);
    document.getElementById("link-text").textContent = up ? "live" : "reconnecting…";
  }

  function parse(event) {
    try {
      return JSON.parse(event.data);
    } catch (error) {
      return null;
    }
  }

  function connect() {
    const source = new EventSource("/_emulator/events");
    source.addEventListener("ready", async () => {
      setLink(true);
      // A (re)connection may have missed events: read the transcripts again.
      try {
        await loadTranscripts();
      } catch (error) {
        sandbox.toast(`could not load the conversations: ${error.message}`, "error");
      }
      sandbox.emit("resync");
      document.body.dataset.ready = "true";
    });
    source.addEventListener("message.changed", (event) => {
      const data = parse(event);
      if (data && data.message) {
        sandbox.storeMessage(data.message);
        sandbox.emit("message", data.message, { replay: false });
      }
    });
    source.addEventListener("call.logged", (event) => {
      const data = parse(event);
      if (data && data.call) sandbox.emit("call", data.call);
    });
    for (const name of ["stream.connected", "stream.closed", "stream.frame", "stream.ack", "callback.posted", "card.pressed"]) {
      source.addEventListener(name, (event) => {
        const data = parse(event);
        if (data) sandbox.emit("wire", data);
      });
    }
    source.onerror = () => setLink(false);
  }

  // ---------------------------------------------------------------- boot

  async function boot() {
    try {
      const world = await sandbox.api("GET", "/_emulator/world");
      sandbox.world = world;
      sandbox.conversations = world.conversations;
      for (const user of world.users) sandbox.users.set(user.user_id, user);
      for (const app of world.apps) sandbox.apps.set(app.client_id, app);
      sandbox.emit("world", world);
    } catch (error) {
      sandbox.toast(`the emulator did not answer: ${error.message}`, "error");
      return;
    }
    connect();
  }

  boot();
})();
