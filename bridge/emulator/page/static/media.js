// Pictures and voice messages: the composer's 图片 and 语音 buttons, and how a user's
// message of another type than text looks in the chat (pictures inline, a voice bubble
// with the words DingTalk recognised, a card for a file or video).
//
// A picture is one of the emulator's samples or a file from this computer (uploaded with
// POST /_emulator/media), then sent with POST /_emulator/inbound: alone as msgtype
// "picture"; with the words in the input box, or in a group (where the @ picker adds the
// mention), as a "richText" of text and picture. A voice message has no real speech
// recognition here: the words typed are its recognition, sent as msgtype "audio" with a
// small stand-in recording. DingTalk delivers no voice from a group, so the button is off
// there; an AI action carries neither (the assistant answers with its note).
"use strict";

(function () {
  const sandbox = window.sandbox;
  const $ = (id) => document.getElementById(id);

  // ---------------------------------------------------------------- how media look

  // Line icons drawn inline: a headless or bare system may have no emoji font.
  const MIC = '<svg class="icon" viewBox="0 0 16 16" aria-hidden="true"><rect x="5.5" y="1.5" width="5" height="8.5" rx="2.5"/><path d="M3 7.5a5 5 0 0 0 10 0M8 12.5V15"/></svg>';
  const FILM = '<svg class="icon big" viewBox="0 0 16 16" aria-hidden="true"><rect x="1.5" y="3" width="13" height="10" rx="1.5"/><path d="M6.5 6v4l3.5-2z"/></svg>';

  function badge(name) {
    const extension = (name || "").includes(".") ? name.split(".").pop().slice(0, 4).toUpperCase() : "FILE";
    return `<span class="file-badge">${escapeHtml(extension)}</span>`;
  }

  function seconds(ms) {
    return Math.max(1, Math.round((ms || 0) / 1000));
  }

  function piece(part) {
    const name = escapeHtml(part.name || "");
    switch (part.kind) {
      case "text":
        return `<span class="plain">${escapeHtml(part.text)}</span>`;
      case "picture":
        return `<img class="picture" data-media="${escapeHtml(part.media_id)}" alt="[图片] ${name}" src="/_emulator/media/${encodeURIComponent(part.media_id)}/content">`;
      case "audio":
        return `<div class="voice" data-voice>${MIC}<span class="voice-bars"><i></i><i></i><i></i><i></i><i></i></span><span class="voice-length">${seconds(part.duration_ms)}″</span></div>`
          + (part.text ? `<div class="recognition" data-recognition title="DingTalk's speech recognition">${escapeHtml(part.text)}</div>` : "");
      case "video":
        return `<div class="attachment" data-attachment="video">${FILM}<span>${name}</span><small>${seconds(part.duration_ms)}″</small></div>`;
      default:
        return `<div class="attachment" data-attachment="file">${badge(part.name)}<span>${name}</span></div>`;
    }
  }

  sandbox.renderPieces = function renderPieces(message) {
    return `<div class="pieces">${message.pieces.map(piece).join("")}</div>`;
  };

  // ---------------------------------------------------------------- sending

  function hintForActions() {
    if (sandbox.currentPath().door === "action") {
      sandbox.toast("an AI action carries no picture or recording: choose “bot message” to let the assistant see it");
    }
  }

  async function sendPicture(mediaId) {
    const input = $("input");
    const text = sandbox.voice.on ? "" : input.value.trim();
    const conversation = sandbox.conversation(sandbox.current);
    const rich = text || conversation.type === "group";
    const media = rich
      ? { msgtype: "richText", rich_text: [...(text ? [{ text }] : []), { media_id: mediaId }] }
      : { msgtype: "picture", media_id: mediaId };
    await sandbox.say(rich ? "" : text, media);
    if (text) input.value = "";
    closeTray();
    hintForActions();
  }

  async function upload(blob, name) {
    const response = await fetch(`/_emulator/media?name=${encodeURIComponent(name)}`, {
      method: "POST",
      headers: { "Content-Type": blob.type || "application/octet-stream" },
      body: blob,
    });
    const data = await response.json();
    if (!response.ok) throw new Error(data.error || `upload: HTTP ${response.status}`);
    return data;
  }

  // A stand-in recording: DingTalk sends AMR; its bytes do not matter to the bridge.
  function recording(length) {
    const header = new TextEncoder().encode("#!AMR\n");
    const body = new Uint8Array(header.length + Math.min(4096, length * 32));
    body.set(header);
    return new Blob([body], { type: "audio/amr" });
  }

  sandbox.voice = {
    on: false,
    async send(text) {
      if (!text) {
        sandbox.toast("type the words DingTalk recognised in the recording");
        return;
      }
      const clip = await upload(recording(text.length), "voice.amr");
      const duration = Math.max(1000, Math.min(60000, text.length * 280));
      await sandbox.say(text, { msgtype: "audio", media_id: clip.id, duration_ms: duration });
      $("input").value = "";
      hintForActions();
    },
  };

  function setVoice(on) {
    sandbox.voice.on = on;
    $("voice").classList.toggle("active", on);
    $("composer").dataset.voice = on ? "on" : "off";
    $("input").placeholder = on
      ? "语音：输入钉钉识别出的文字 · type what the voice message says, Enter 发送"
      : "输入消息，Enter 发送 · Shift+Enter 换行";
  }

  // ---------------------------------------------------------------- the picture tray

  let samplesLoaded = false;

  async function loadSamples() {
    if (samplesLoaded) return;
    const data = await sandbox.api("GET", "/_emulator/media");
    const samples = data.media.filter((m) => m.sample);
    $("samples").innerHTML = samples.map((m) => `
      <button type="button" class="sample" data-sample="${escapeHtml(m.id)}" title="${escapeHtml(m.name)}">
        <img src="/_emulator/media/${encodeURIComponent(m.id)}/content" alt="${escapeHtml(m.name)}">
        <span>${escapeHtml(m.name.split(" ")[0])}</span>
      </button>`).join("");
    for (const button of document.querySelectorAll("[data-sample]")) {
      button.addEventListener("click", () => sandbox.sending(() => sendPicture(button.dataset.sample)));
    }
    samplesLoaded = true;
  }

  function closeTray() {
    $("tray").hidden = true;
    $("picture").classList.remove("active");
  }

  async function toggleTray() {
    const tray = $("tray");
    if (!tray.hidden) {
      closeTray();
      return;
    }
    try {
      await loadSamples();
    } catch (error) {
      sandbox.toast(`could not list the sample pictures: ${error.message}`, "error");
    }
    tray.hidden = false;
    $("picture").classList.add("active");
  }

  function updateButtons() {
    const conversation = sandbox.conversation(sandbox.current);
    const group = Boolean(conversation) && conversation.type === "group";
    const voice = $("voice");
    voice.disabled = group;
    voice.title = group
      ? "DingTalk delivers no voice message from a group"
      : "send a voice message: type the words DingTalk would recognise";
    if (group && sandbox.voice.on) setVoice(false);
  }

  sandbox.on("world", () => {
    $("picture").addEventListener("click", toggleTray);
    $("voice").addEventListener("click", () => setVoice(!sandbox.voice.on));
    $("pick-file").addEventListener("click", () => $("picture-file").click());
    $("picture-file").addEventListener("change", () => {
      const [file] = $("picture-file").files;
      if (!file) return;
      sandbox.sending(async () => {
        const medium = await upload(file, file.name);
        await sendPicture(medium.id);
      }).finally(() => { $("picture-file").value = ""; });
    });
    updateButtons();
  });
  sandbox.on("conversation", updateButtons);
})();
