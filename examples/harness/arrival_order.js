// A conform harness around a small JavaScript bot that applies each input as it
// arrives: the latest notification's state and audio win. Plain Node, no packages.
//
//   transfer-fsm conform -- node examples/harness/arrival_order.js
//
// It passes the documented order of every documented flow and fails once
// notifications race: a transferAccepted delivered after the call terminated, say.
// Each line on standard input is one delivery (docs/conformance.md); each answer is
// the bot's view (state, audio, transfer status). It sends no milestones, so
// conform does not compare them (and says so).
"use strict";

const readline = require("node:readline");

const STATUS = { transferring: "transferring", transferAccepted: "accepted" };

function applyNotification(call, data) {
  const state = data.state;
  const audio = data.mediaState && data.mediaState.audio;
  if (typeof state === "string") call.state = state;
  if (typeof audio === "string") call.audio = audio;
  const result = data.resultInfo;
  const reason = data.terminationReason;
  if (typeof data.status === "string") {
    // a legacy transfer commsOperation: its progress is a word in resultInfo.subCode
    const word = result && result.subCode;
    if (word in STATUS) setStatus(call, STATUS[word]);
    if (data.status === "failed" && call.transfer) setStatus(call, "failed");
  } else if (state in STATUS) {
    setStatus(call, STATUS[state]);
  } else if (state === "terminated") {
    const subcode = result && Number(result.subcode !== undefined ? result.subcode : result.subCode);
    const transferred = reason === "AppTransferred" || subcode === 7015;
    if (call.transfer) setStatus(call, transferred ? "completed" : "failed");
    call.audio = "inactive";
  } else if (state === "established" && result && Number(result.code) >= 400 && call.transfer) {
    setStatus(call, "failed");
  }
}

const IN_FLIGHT = new Set(["requested", "transferring", "accepted"]);

function setStatus(call, status) {
  call.transfer = { status: status };
}

function apply(delivery) {
  const start = delivery.start || {};
  const call = { state: start.state || null, audio: start.audio || null, transfer: null };
  for (const input of delivery.inputs) {
    if (input.kind === "notification") {
      for (const item of input.body.value || []) applyNotification(call, item.resourceData || {});
    } else if (input.kind === "requested") {
      setStatus(call, "requested");
    } else if (input.kind === "rejected" && call.transfer) {
      setStatus(call, "failed");
    } else if (input.kind === "abandoned" && call.transfer && IN_FLIGHT.has(call.transfer.status)) {
      setStatus(call, "abandoned");
    } else if (input.kind === "get") {
      applyNotification(call, input.status === 404 ? { state: "terminated" } : input.body);
    }
  }
  const view = { state: call.state, audio: call.audio };
  if (call.transfer) view.transfer = { status: call.transfer.status };
  return { case: delivery.case, delivery: delivery.delivery, view: view };
}

const lines = readline.createInterface({ input: process.stdin, crlfDelay: Infinity });
lines.on("line", (line) => {
  process.stdout.write(JSON.stringify(apply(JSON.parse(line))) + "\n");
});
