// The chat side of the page: the conversation list, the message list as a DingTalk user
// sees it (a reply bubble is "preparing", grows while "inputting", then shows "finished"
// or "failed"), and the composer that sends a user's message through the emulator.
// Pictures and voice messages are media.js's; it sends them through `sandbox.say`.
// A streaming AI card whose stop button shows (MessageView.stop_button) gets a "停止"
// button: pressing it presses the card's button as the current speaker, and DingTalk
// (the emulator) calls the bridge back over Stream or HTTP, as the card asked.
"use strict";

(function () {
  const sandbox = window.sandbox;
  const $ = (id) => document.getElementById(id);

  const TYPE_LABEL = { single: "单聊 · single chat", group: "群聊 · group", magic_wand: "魔法棒 · magic wand" };
  const STATE_LABEL = { preparing: "准备中", inputting: "输入中", finished: "已完成", failed: "回答失败" };

  // How a message reaches the bridge: which app, and which Stream topic (door).
  const PATHS = [
    { id: "action", label: "AI assistant · action (aiInteraction)", client: "dingbridge-dev", door: "action", types: ["single", "group", "magic_wand"] },
    { id: "robot", label: "AI assistant · bot message", client: "dingbridge-dev", door: "robot", types: ["single", "group"] },
    { id: "card", label: "chat robot · AI card", client: "dingbridge-card", door: "robot", types: ["single", "group"] },
  ];

  function initials(name) {
    return (name || "?").trim().slice(0, 1).toUpperCase();
  }

  function appName(clientId) {
    const app = sandbox.apps.get(clientId);
    return app ? app.name : clientId;
  }

  function currentPath() {
    return PATHS.find((p) => p.id === $("path").value) || PATHS[0];
  }

  // ---------------------------------------------------------------- sidebar

  function renderSidebar() {
    const list = $("conversations");
    list.innerHTML = "";
    for (const conversation of sandbox.conversations) {
      const item = document.createElement("li");
      item.dataset.conversation = conversation.id;
      item.dataset.type = conversation.type;
      item.className = conversation.id === sandbox.current ? "active" : "";
      const icon = conversation.type === "group" ? "群" : conversation.type === "magic_wand" ? "✦" : initials(conversation.title);
      item.innerHTML = `
        <span class="avatar conv-${conversation.type}">${escapeHtml(icon)}</span>
        <span class="conv-text">
          <span class="conv-title">${escapeHtml(conversation.title || conversation.id)}</span>
          <span class="conv-preview" data-preview></span>
        </span>`;
      item.addEventListener("click", () => select(conversation.id));
      list.appendChild(item);
      updatePreview(conversation.id);
    }
  }

  function updatePreview(conversationId) {
    const item = document.querySelector(`#conversations li[data-conversation="${conversationId}"] [data-preview]`);
    if (!item) return;
    const ids = sandbox.byConversation.get(conversationId) || [];
    const last = ids.length ? sandbox.messages.get(ids[ids.length - 1]) : null;
    const conversation = sandbox.conversation(conversationId);
    item.textContent = last
      ? `${last.sender_kind === "bot" ? appName(last.sender_id) + ": " : ""}${last.text.replace(/\s+/g, " ").slice(0, 40) || STATE_LABEL[last.state]}`
      : TYPE_LABEL[conversation.type];
  }

  // ---------------------------------------------------------------- conversation

  function select(conversationId) {
    sandbox.current = conversationId;
    history.replaceState(null, "", `#${conversationId}`);
    const conversation = sandbox.conversation(conversationId);
    for (const item of document.querySelectorAll("#conversations li")) {
      item.classList.toggle("active", item.dataset.conversation === conversationId);
    }
    $("chat").dataset.type = conversation.type;
    $("chat").dataset.conversation = conversationId;
    $("chat-title").textContent = conversation.title || conversation.id;
    const members = conversation.members.map((id) => (sandbox.users.get(id) || { nick: id }).nick);
    $("chat-sub").textContent = conversation.type === "group"
      ? `${TYPE_LABEL.group} · ${members.length + 1} members: ${members.join(", ")} and the assistant`
      : conversation.type === "magic_wand"
        ? `${TYPE_LABEL.magic_wand} · the AI assistant beside every chat (reply mode only)`
        : `${TYPE_LABEL.single} · ${members.join(", ")} and the assistant`;

    const speaker = $("speaker");
    const speaking = speaker.value;
    speaker.innerHTML = conversation.members
      .map((id) => `<option value="${escapeHtml(id)}">${escapeHtml((sandbox.users.get(id) || { nick: id }).nick)}</option>`)
      .join("");
    if (conversation.members.includes(speaking)) speaker.value = speaking;
    speaker.disabled = conversation.members.length < 2;

    const path = $("path");
    const previous = path.value;
    const usable = PATHS.filter((p) => p.types.includes(conversation.type));
    path.innerHTML = usable.map((p) => `<option value="${p.id}">${escapeHtml(p.label)}</option>`).join("");
    path.value = usable.some((p) => p.id === previous) ? previous : usable[0].id;
    path.disabled = usable.length < 2;
    updateMention();
    renderMessages();
    sandbox.emit("conversation", conversationId);
  }

  function updateMention() {
    const conversation = sandbox.conversation(sandbox.current);
    const button = $("mention");
    button.textContent = `@${appName(currentPath().client)}`;
    button.hidden = !conversation || conversation.type !== "group";
    $("hint").textContent = conversation && conversation.type === "group"
      ? `In a group the assistant answers only when mentioned: include ${button.textContent}.`
      : "";
  }

  // ---------------------------------------------------------------- messages

  function renderMessages() {
    const box = $("messages");
    box.innerHTML = "";
    for (const id of sandbox.byConversation.get(sandbox.current) || []) {
      box.appendChild(messageElement(sandbox.messages.get(id)));
    }
    box.scrollTop = box.scrollHeight;
  }

  function side(message) {
    if (message.sender_kind === "bot") return "bot";
    return message.sender_id === $("speaker").value ? "mine" : "other";
  }

  function messageElement(message) {
    const element = document.createElement("div");
    element.className = `msg ${side(message)}`;
    element.dataset.messageId = message.id;
    fillMessage(element, message);
    return element;
  }

  function fillMessage(element, message) {
    const bot = message.sender_kind === "bot";
    const who = bot ? appName(message.sender_id) : (sandbox.users.get(message.sender_id) || { nick: message.sender_id }).nick;
    element.dataset.state = message.state;
    element.dataset.sender = message.sender_kind;
    element.dataset.frames = String(message.changes.length);
    element.className = `msg ${side(message)} state-${message.state}`;
    let content;
    if (bot && message.state === "preparing" && !message.text) {
      content = `<div class="preparing"><span class="spinner"></span>${STATE_LABEL.preparing}<span class="dots"><i></i><i></i><i></i></span></div>`;
    } else if (bot) {
      const cursor = message.state === "inputting" || message.state === "preparing" ? '<span class="cursor"></span>' : "";
      content = `<div class="md">${renderMarkdown(message.text)}</div>${cursor}`;
    } else if (message.pieces && message.pieces.length && sandbox.renderPieces) {
      content = sandbox.renderPieces(message);
    } else {
      content = `<div class="plain">${escapeHtml(message.text)}</div>`;
    }
    content += stopButton(message);
    const chip = bot ? `<span class="state-chip ${message.state}">${STATE_LABEL[message.state]}</span>` : "";
    const via = bot ? `<span class="via">${escapeHtml(message.via)}</span>` : "";
    element.innerHTML = `
      <span class="avatar ${bot ? "bot" : "user"}">${escapeHtml(bot ? "AI" : initials(who))}</span>
      <div class="body">
        <div class="meta"><span class="who">${escapeHtml(who)}</span>${via}${chip}</div>
        <div class="bubble">${content}</div>
        <div class="foot" data-figures></div>
      </div>`;
    const stop = element.querySelector("[data-stop]");
    if (stop) stop.addEventListener("click", () => pressStop(message));
    sandbox.emit("bubble", element, message);
  }

  // ---------------------------------------------------------------- the stop button

  const stopping = new Set(); // ids of messages whose stop was pressed (re-renders keep it)

  function stopButton(message) {
    if (message.sender_kind !== "bot" || !message.stop_button || !message.out_track_id) return "";
    const pressed = stopping.has(message.id);
    return `<div class="card-actions"><button type="button" class="stop-button" data-stop${pressed ? " disabled" : ""}>${pressed ? "停止中…" : "停止"}</button></div>`;
  }

  async function pressStop(message) {
    if (stopping.has(message.id)) return;
    stopping.add(message.id);
    const element = document.querySelector(`[data-message-id="${message.id}"]`);
    if (element) fillMessage(element, sandbox.messages.get(message.id) || message);
    const path = `/_emulator/cards/${encodeURIComponent(message.out_track_id)}/press`;
    try {
      const press = await sandbox.api("POST", path, { user: $("speaker").value, action: "btn_stop" });
      if (press.status === null) sandbox.toast(`the bridge did not answer the stop: ${press.error}`, "error");
    } catch (error) {
      stopping.delete(message.id);
      sandbox.toast(`could not stop: ${error.message}`, "error");
      const current = document.querySelector(`[data-message-id="${message.id}"]`);
      if (current) fillMessage(current, sandbox.messages.get(message.id) || message);
    }
  }

  sandbox.on("message", (message) => {
    updatePreview(message.conversation_id);
    if (message.conversation_id !== sandbox.current) {
      if (message.sender_kind === "bot") {
        const item = document.querySelector(`#conversations li[data-conversation="${message.conversation_id}"]`);
        if (item) item.classList.add("unread");
      }
      return;
    }
    const box = $("messages");
    const atBottom = box.scrollHeight - box.scrollTop - box.clientHeight < 80;
    const existing = box.querySelector(`[data-message-id="${message.id}"]`);
    if (existing) {
      fillMessage(existing, message);
      if (atBottom) box.scrollTop = box.scrollHeight;
    } else {
      // Keep the order of the transcript (a replayed message may be older than the last).
      const ids = sandbox.byConversation.get(message.conversation_id) || [];
      const index = ids.indexOf(message.id);
      const nextId = ids[index + 1];
      const next = nextId ? box.querySelector(`[data-message-id="${nextId}"]`) : null;
      box.insertBefore(messageElement(message), next);
    }
    if (atBottom || message.sender_kind === "user") box.scrollTop = box.scrollHeight;
  });

  // ---------------------------------------------------------------- composer

  // The current speaker says `text` (with `media`: msgtype, media_id, rich_text… for a
  // picture or voice message) on the current path. A medium in a group counts as
  // mentioning the assistant: the emulator puts the @ picker's mention in front of it.
  sandbox.say = async function say(text, media) {
    const conversation = sandbox.conversation(sandbox.current);
    const path = currentPath();
    const mention = `@${appName(path.client)}`;
    const mentioned = conversation.type !== "group" || Boolean(media) || text.includes(mention);
    const body = {
      user_id: $("speaker").value,
      conversation_id: conversation.id,
      text,
      client_id: path.client,
      deliver: mentioned ? "stream" : "none",
      as: path.door,
      at_bot: mentioned,
      ...(media || {}),
    };
    const answer = await sandbox.inbound(body);
    sandbox.emit("sent", answer, body);
    if (!mentioned) sandbox.toast(`not mentioned: the assistant stays quiet (add ${mention})`);
    return answer;
  };

  sandbox.currentPath = currentPath;

  // Runs `action` with the send button held down; a failure is a toast.
  sandbox.sending = async function sending(action) {
    $("send").disabled = true;
    try {
      await action();
    } catch (error) {
      sandbox.toast(`could not send: ${error.message}`, "error");
    } finally {
      $("send").disabled = false;
      $("input").focus();
    }
  };

  async function send() {
    const input = $("input");
    const text = input.value.trim();
    if (!sandbox.current) return;
    if (sandbox.voice && sandbox.voice.on) {
      await sandbox.sending(() => sandbox.voice.send(text));
      return;
    }
    if (!text) return;
    await sandbox.sending(async () => {
      await sandbox.say(text);
      input.value = "";
    });
  }

  // POST /inbound; an emulator without Stream delivery refuses the extra keys: retry bare.
  sandbox.inbound = async function inbound(body) {
    try {
      return await sandbox.api("POST", "/_emulator/inbound", body);
    } catch (error) {
      if (error.status !== 422) throw error;
      const { deliver, as, at_bot: atBot, ...bare } = body;
      sandbox.toast("this emulator records messages but cannot deliver them to the bridge", "error");
      return await sandbox.api("POST", "/_emulator/inbound", bare);
    }
  };

  function wireComposer() {
    $("composer").addEventListener("submit", (event) => {
      event.preventDefault();
      send();
    });
    $("input").addEventListener("keydown", (event) => {
      if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
        event.preventDefault();
        send();
      }
    });
    $("mention").addEventListener("click", () => {
      const input = $("input");
      const mention = $("mention").textContent;
      if (!input.value.includes(mention)) input.value = `${mention} ${input.value}`.trimEnd() + " ";
      input.focus();
    });
    for (const chip of document.querySelectorAll("[data-insert]")) {
      chip.addEventListener("click", () => {
        const input = $("input");
        const conversation = sandbox.conversation(sandbox.current);
        const prefix = conversation && conversation.type === "group" ? `${$("mention").textContent} ` : "";
        input.value = prefix + chip.dataset.insert;
        input.focus();
      });
    }
    $("path").addEventListener("change", updateMention);
    $("speaker").addEventListener("change", renderMessages);
  }

  sandbox.on("world", () => {
    wireComposer();
    const wanted = decodeURIComponent(location.hash.slice(1));
    const first = sandbox.conversation(wanted) ? wanted : sandbox.conversations[0].id;
    sandbox.current = first;
    renderSidebar();
    select(first);
  });
  sandbox.on("conversation", (id) => {
    const item = document.querySelector(`#conversations li[data-conversation="${id}"]`);
    if (item) item.classList.remove("unread");
  });
  sandbox.on("resync", () => {
    renderMessages();
    for (const conversation of sandbox.conversations) updatePreview(conversation.id);
  });
  sandbox.select = select;
})();
