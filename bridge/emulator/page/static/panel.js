// The side panel: every DingTalk API call as it happens, per-reply figures, and the
// controls that inject faults and change the simulated model's speed.
//
// Per-reply figures come from the bus events. A reply starts with the user's message
// (t0 = its creation time) and owns the bot messages that follow it in that chat; its
// first visible text and its end are read from those messages' changes. A call is
// counted for a reply when the message change it caused came just before it (the
// emulator publishes the change, then logs the call, in one step), when it carries a
// conversationToken/outTrackId already seen on that reply, or, failing both, when only
// one reply is open (failed calls change nothing, so they are found this way).
"use strict";

(function () {
  const sandbox = window.sandbox;
  const $ = (id) => document.getElementById(id);
  const MAX_ROWS = 400;
  const encoder = new TextEncoder();

  const replies = new Map(); // user message id -> reply
  const replyOfBot = new Map(); // bot message id -> reply
  const replyOfKey = new Map(); // conversationToken / outTrackId -> reply
  const quiet = new Set(); // user message ids sent without a mention (no reply expected)
  let lastChangedBot = null;
  let callCount = 0;
  let latest = null;

  // ---------------------------------------------------------------- replies

  function openReplies() {
    return [...replies.values()].filter((r) => !r.done);
  }

  function startReply(message) {
    if (replies.has(message.id) || quiet.has(message.id)) return;
    replies.set(message.id, {
      id: message.id,
      conversation: message.conversation_id,
      t0: message.created_at,
      bots: [],
      calls: 0,
      failedCalls: 0,
      operations: new Set(),
      firstText: null,
      end: null,
      state: "waiting",
      done: false,
    });
  }

  function replyFor(bot) {
    let reply = replyOfBot.get(bot.id);
    if (reply) return reply;
    // The oldest unfinished reply of that chat that started before this message.
    reply = [...replies.values()].find(
      (r) => !r.done && r.conversation === bot.conversation_id && r.t0 <= bot.created_at + 1,
    );
    if (reply) {
      reply.bots.push(bot.id);
      replyOfBot.set(bot.id, reply);
    }
    return reply || null;
  }

  function updateReply(reply) {
    const messages = reply.bots.map((id) => sandbox.messages.get(id)).filter(Boolean);
    reply.firstText = null;
    for (const message of messages) {
      const shown = message.changes.find((change) => change.text);
      if (shown && (reply.firstText === null || shown.at < reply.firstText)) reply.firstText = shown.at;
    }
    const last = messages[messages.length - 1];
    if (last) {
      reply.state = last.state;
      const final = last.state === "finished" || last.state === "failed";
      reply.done = final;
      reply.end = final && last.changes.length ? last.changes[last.changes.length - 1].at : null;
    }
    latest = reply;
    renderFigures();
  }

  function seconds(value) {
    return value === null || value === undefined ? "–" : `${value.toFixed(2)} s`;
  }

  function figuresText(reply) {
    const calls = `${reply.calls} call${reply.calls === 1 ? "" : "s"}${reply.failedCalls ? ` (${reply.failedCalls} failed)` : ""}`;
    const first = reply.firstText === null ? "–" : seconds(reply.firstText - reply.t0);
    const total = reply.end === null ? "…" : seconds(reply.end - reply.t0);
    return { calls, first, total };
  }

  function renderFigures() {
    const body = $("figures");
    const rows = [...replies.values()].filter((r) => r.bots.length || !r.done).slice(-8).reverse();
    body.innerHTML = rows
      .map((reply) => {
        const f = figuresText(reply);
        const title = (sandbox.conversation(reply.conversation) || { title: reply.conversation }).title;
        return `<tr data-reply="${escapeHtml(reply.id)}"><td>${escapeHtml(title)}</td>
          <td><span class="state-chip ${reply.state}">${escapeHtml(reply.state)}</span></td>
          <td>${reply.calls}${reply.failedCalls ? `<span class="bad"> / ${reply.failedCalls}✗</span>` : ""}</td>
          <td>${f.first}</td><td>${f.total}</td></tr>`;
      })
      .join("");
    if (latest) {
      const f = figuresText(latest);
      const ops = [...latest.operations].join(", ") || "–";
      $("figures-current").innerHTML = `
        <div class="big"><b data-figure="calls">${escapeHtml(f.calls)}</b><span>API calls</span></div>
        <div class="big"><b data-figure="first">${f.first}</b><span>to first visible text</span></div>
        <div class="big"><b data-figure="total">${f.total}</b><span>total</span></div>
        <div class="ops">via ${escapeHtml(ops)}</div>`;
    }
    for (const reply of replies.values()) {
      for (const id of reply.bots) {
        const foot = document.querySelector(`[data-message-id="${id}"] [data-figures]`);
        if (foot) {
          const f = figuresText(reply);
          foot.textContent = `${f.calls} · first text ${f.first} · total ${f.total}`;
        }
      }
    }
  }

  sandbox.on("sent", (answer, body) => {
    if (!answer || !answer.message) return;
    if (body.deliver === "none") {
      // Its event may have started a reply already: no answer is coming.
      quiet.add(answer.message.id);
      replies.delete(answer.message.id);
      renderFigures();
    } else {
      startReply(answer.message);
    }
  });

  sandbox.on("message", (message, { replay }) => {
    if (message.sender_kind === "user") {
      // Replies to messages sent before the page opened are not measured.
      if (!replay) startReply(message);
      return;
    }
    if (!replay) lastChangedBot = message.id;
    const reply = replyFor(message);
    if (reply) updateReply(reply);
  });

  sandbox.on("bubble", () => renderFigures());

  // ---------------------------------------------------------------- calls

  function keysOf(call) {
    const keys = [];
    for (const part of [call.request, call.response, call.response && call.response.result]) {
      if (part && typeof part === "object") {
        for (const name of ["conversationToken", "outTrackId"]) {
          if (typeof part[name] === "string" && part[name]) keys.push(part[name]);
        }
      }
    }
    return keys;
  }

  function attribute(call) {
    if (call.operation === "gateway.connections.open") return null;
    let reply = null;
    if (lastChangedBot) reply = replyOfBot.get(lastChangedBot) || null;
    if (!reply) reply = keysOf(call).map((k) => replyOfKey.get(k)).find(Boolean) || null;
    if (!reply) {
      const open = openReplies();
      if (open.length === 1) reply = open[0];
    }
    lastChangedBot = null;
    if (!reply) return null;
    for (const key of keysOf(call)) replyOfKey.set(key, reply);
    reply.calls += 1;
    if (call.status >= 400 || (call.response && call.response.errcode)) reply.failedCalls += 1;
    if (call.operation !== "oauth2.accessToken") reply.operations.add(call.operation);
    latest = reply;
    renderFigures();
    return reply;
  }

  function size(value) {
    if (value === null || value === undefined) return 0;
    return encoder.encode(typeof value === "string" ? value : JSON.stringify(value)).length;
  }

  function milliseconds(secondsTaken) {
    const ms = secondsTaken * 1000;
    return ms < 10 ? `${ms.toFixed(1)} ms` : `${Math.round(ms)} ms`;
  }

  function bytes(n) {
    return n < 1024 ? `${n} B` : `${(n / 1024).toFixed(1)} kB`;
  }

  function addRow(row) {
    const box = $("calls");
    const atBottom = box.scrollHeight - box.scrollTop - box.clientHeight < 40;
    box.appendChild(row);
    while (box.children.length > MAX_ROWS) box.removeChild(box.firstChild);
    if (atBottom) box.scrollTop = box.scrollHeight;
  }

  function detail(row, value) {
    row.addEventListener("click", () => {
      const open = row.nextElementSibling && row.nextElementSibling.classList.contains("call-detail");
      if (open) {
        row.nextElementSibling.remove();
        return;
      }
      const pre = document.createElement("pre");
      pre.className = "call-detail";
      pre.textContent = JSON.stringify(value, null, 2).slice(0, 6000);
      row.after(pre);
    });
  }

  sandbox.on("call", (call) => {
    const reply = attribute(call);
    callCount += 1;
    $("call-count").textContent = `${callCount} call${callCount === 1 ? "" : "s"}`;
    const failed = call.status >= 400 || (call.response && call.response.errcode);
    const row = document.createElement("div");
    row.className = `call ${failed ? "bad" : "ok"}`;
    row.dataset.operation = call.operation;
    row.dataset.status = String(call.status);
    const chat = reply ? (sandbox.conversation(reply.conversation) || { title: "" }).title : "";
    const note = [chat, failed ? call.error_code || (call.response && call.response.errcode) : ""]
      .filter(Boolean)
      .join(" · ");
    row.innerHTML = `<span class="seq">${call.seq}</span>
      <span class="op" title="${escapeHtml(call.method + " " + call.path)}">${escapeHtml(call.operation)}${note ? `<small>${escapeHtml(String(note))}</small>` : ""}</span>
      <span class="status">${call.status}</span>
      <span class="lat">${milliseconds(call.latency)}</span>
      <span class="bytes">${bytes(size(call.request))} / ${bytes(size(call.response))}</span>`;
    detail(row, { request: call.request, status: call.status, response: call.response });
    addRow(row);
    scheduleFaultRefresh();
  });

  // Stream and HTTP-callback events: one row each, pings counted but not listed.
  const connections = new Map();
  let pings = 0;

  function streamStatus() {
    const live = [...connections.values()].filter((c) => c.closed_at === null || c.closed_at === undefined);
    $("stream-status").textContent = `Stream ${live.length} connected${pings ? ` · ${pings} pings` : ""}`;
    $("stream-status").classList.toggle("up", live.length > 0);
  }

  sandbox.on("wire", (event) => {
    let text = null;
    let value = event;
    let kind = "wire";
    if (event.connection) {
      connections.set(event.connection.id, event.connection);
      streamStatus();
      text = event.type === "stream.connected"
        ? `stream connected · ${event.connection.client_id}`
        : `stream closed · ${event.connection.client_id}${event.connection.close_code ? ` (${event.connection.close_code})` : ""}`;
    } else if (event.frame) {
      if (event.frame.type === "SYSTEM" && event.frame.topic === "ping") {
        pings += 1;
        streamStatus();
        return;
      }
      text = `stream ↓ ${event.frame.type} ${event.frame.topic}`;
      value = event.frame;
    } else if (event.ack) {
      if (event.ack.frame_type === "SYSTEM" && event.ack.topic === "ping") return;
      text = `stream ↑ ACK ${event.ack.code ?? "?"}${event.ack.matched ? "" : " (unmatched)"}`;
      kind = event.ack.matched && (event.ack.code === 200 || event.ack.code === null) ? "wire" : "wire bad";
      value = event.ack;
    } else if (event.callback) {
      text = `callback POST ${event.callback.door} → ${event.callback.status ?? event.callback.error}`;
      kind = event.callback.status && event.callback.status < 400 ? "wire" : "wire bad";
      value = event.callback;
    } else if (event.press) {
      const press = event.press;
      text = `card ${press.action} pressed by ${press.user} → ${press.route} ${press.status ?? press.error}`;
      kind = press.status && press.status < 400 ? "wire" : "wire bad";
      value = press;
    }
    if (text === null) return;
    const row = document.createElement("div");
    row.className = `call ${kind}`;
    row.innerHTML = `<span class="seq">·</span><span class="op wide">${escapeHtml(text)}</span>`;
    detail(row, value);
    addRow(row);
  });

  // ---------------------------------------------------------------- controls

  const OPERATIONS = [
    "aiInteraction.reply", "aiInteraction.prepare", "aiInteraction.update", "aiInteraction.finish",
    "aiInteraction.send", "card.instances.createAndDeliver", "card.streaming", "card.instances.update",
    "robot.sendBySession", "agent.send", "oauth2.accessToken",
  ];

  const FAULTS = {
    "rate-limit": (op) => [["POST", "/_emulator/faults", {
      operation: op, status: 403, code: "Forbidden.AccessDenied.QpsLimitForAppkeyAndApi",
      message: "调用频率超过限制", count: 3,
    }]],
    "http-500": (op) => [["POST", "/_emulator/faults", { operation: op, status: 500, code: "system.error", count: 2 }]],
    slow: (op) => [["POST", "/_emulator/faults", { operation: op, latency: 1.5, count: 3 }]],
    "webhook-expiry": () => ["robot.sendBySession", "agent.send"].map((operation) => ["POST", "/_emulator/faults", {
      operation, status: 200, code: "300001", message: "session 不存在", count: 5,
    }]),
    "model-drop": () => [["POST", "/_emulator/model/faults", { kind: "drop", after_chunks: 40, count: 1 }]],
    "model-stall": () => [["POST", "/_emulator/model/faults", { kind: "stall", after_chunks: 10, seconds: 4, count: 1 }]],
    "model-429": () => [["POST", "/_emulator/model/faults", { kind: "status", status: 429, message: "rate limited", retry_after: 1, count: 1 }]],
    clear: () => [["DELETE", "/_emulator/faults"], ["DELETE", "/_emulator/model/faults"]],
  };

  async function refreshFaults() {
    try {
      const [platform, model] = await Promise.all([
        sandbox.api("GET", "/_emulator/faults"),
        sandbox.api("GET", "/_emulator/model"),
      ]);
      const items = platform.faults
        .filter((f) => f.spec.count === null || f.fired < f.spec.count)
        .map((f) => {
          const what = f.spec.status ? `${f.spec.status} ${f.spec.code}` : `+${f.spec.latency}s`;
          const left = f.spec.count === null ? "∞" : `${f.spec.count - f.fired} left`;
          return `<li data-fault-id="${f.id}">${escapeHtml(f.spec.operation)} · ${escapeHtml(what)} · ${left}<button type="button" title="remove">×</button></li>`;
        });
      for (const f of model.faults) {
        items.push(`<li class="model">model ${escapeHtml(f.fault.kind)}${f.fault.kind === "status" ? " " + f.fault.status : ""} · ${f.remaining ?? "∞"} left</li>`);
      }
      $("faults").innerHTML = items.join("") || '<li class="none">no faults installed</li>';
      for (const button of document.querySelectorAll("#faults li[data-fault-id] button")) {
        button.addEventListener("click", async () => {
          await sandbox.api("DELETE", `/_emulator/faults/${button.parentElement.dataset.faultId}`);
          refreshFaults();
        });
      }
    } catch (error) {
      $("faults").innerHTML = `<li class="none">${escapeHtml(error.message)}</li>`;
    }
  }

  let refreshTimer = null;
  function scheduleFaultRefresh() {
    clearTimeout(refreshTimer);
    refreshTimer = setTimeout(refreshFaults, 250);
  }

  async function loadSpeed() {
    try {
      const model = await sandbox.api("GET", "/_emulator/model");
      $("speed").value = String(model.speed.tokens_per_second);
      $("ttft").value = String(model.speed.ttft);
      showSpeed();
    } catch (error) {
      sandbox.toast(`model settings unavailable: ${error.message}`, "error");
    }
  }

  function showSpeed() {
    $("speed-value").textContent = `${$("speed").value} tok/s`;
    $("ttft-value").textContent = `${Number($("ttft").value).toFixed(1)} s`;
  }

  async function applySpeed() {
    showSpeed();
    try {
      await sandbox.api("PUT", "/_emulator/model/speed", {
        tokens_per_second: Number($("speed").value),
        ttft: Number($("ttft").value),
      });
    } catch (error) {
      sandbox.toast(`could not change the speed: ${error.message}`, "error");
    }
  }

  function wireControls() {
    $("fault-op").innerHTML = OPERATIONS.map((op) => `<option>${op}</option>`).join("");
    for (const input of [$("speed"), $("ttft")]) {
      input.addEventListener("input", showSpeed);
      input.addEventListener("change", applySpeed);
    }
    for (const button of document.querySelectorAll("[data-fault]")) {
      button.addEventListener("click", async () => {
        const requests = FAULTS[button.dataset.fault]($("fault-op").value);
        try {
          for (const [method, path, body] of requests) await sandbox.api(method, path, body);
          sandbox.toast(button.dataset.fault === "clear" ? "faults cleared" : `installed: ${button.textContent}`);
        } catch (error) {
          sandbox.toast(`could not install the fault: ${error.message}`, "error");
        }
        refreshFaults();
      });
    }
  }

  // After a (re)connection, read which Stream connections are live now.
  sandbox.on("resync", async () => {
    try {
      const data = await sandbox.api("GET", "/_emulator/stream/connections?live=true");
      connections.clear();
      for (const connection of data.connections) connections.set(connection.id, connection);
      streamStatus();
    } catch (error) {
      $("stream-status").textContent = "Stream unavailable";
    }
  });

  sandbox.on("world", () => {
    wireControls();
    loadSpeed();
    refreshFaults();
  });
  sandbox.replies = replies;
})();
