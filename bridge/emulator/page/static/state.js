// The page's shared state and a tiny event hub; loaded first, used by every other script.
//
// Events: "world" (the world view, once), "message" (a MessageView was stored, with
// {replay} true while transcripts are being re-read), "call" (a CallView), "wire" (a
// Stream, HTTP-callback or card-press event of the bus), "resync" (transcripts were re-read),
// "conversation" (the selected conversation changed).
"use strict";

window.sandbox = {
  world: null,
  conversations: [],
  users: new Map(), // user_id -> UserView
  apps: new Map(), // client_id -> AppView
  messages: new Map(), // message id -> MessageView
  byConversation: new Map(), // conversation id -> message ids, oldest first
  current: null, // the selected conversation id
  handlers: new Map(),

  on(name, handler) {
    const list = this.handlers.get(name) || [];
    list.push(handler);
    this.handlers.set(name, list);
  },

  emit(name, ...args) {
    for (const handler of this.handlers.get(name) || []) {
      try {
        handler(...args);
      } catch (error) {
        console.error(`sandbox: ${name} handler failed`, error);
      }
    }
  },

  conversation(id) {
    return this.conversations.find((c) => c.id === id) || null;
  },
};
