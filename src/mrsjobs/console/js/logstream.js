// A job's log, followed live. EventSource cannot send the X-Auth-Token header, so the
// server-sent events are read from fetch()'s body stream and parsed here.

import {call} from "./api.js";

/** Parse server-sent events from `chunks` (strings); calls onEvent({event, data, id}). */
export function sseParser(onEvent) {
  let buffer = "";
  let event = {event: "message", data: [], id: null};
  const dispatch = () => {
    if (event.data.length) onEvent({...event, data: event.data.join("\n")});
    event = {event: "message", data: [], id: null};
  };
  return (chunk) => {
    buffer += chunk;
    const lines = buffer.split(/\r\n|\r|\n/);
    buffer = lines.pop();  // an incomplete line waits for the next chunk
    for (const line of lines) {
      if (line === "") { dispatch(); continue; }
      if (line.startsWith(":")) continue;  // a comment (keep-alive)
      const colon = line.indexOf(":");
      const name = colon < 0 ? line : line.slice(0, colon);
      let value = colon < 0 ? "" : line.slice(colon + 1);
      if (value.startsWith(" ")) value = value.slice(1);
      if (name === "data") event.data.push(value);
      else if (name === "event") event.event = value;
      else if (name === "id") event.id = value;
    }
  };
}

/**
 * Follow the log `type` of the job at `jobPath` from `offset`: onText(text) for each piece,
 * onEnd({job_state, job_result}) when the job has ended. Returns an AbortController.
 */
export function followLog(jobPath, type, offset, {onText, onEnd, onError}) {
  const controller = new AbortController();
  (async () => {
    const resp = await call("GET", `${jobPath}/log`, {
      query: {type, offset, follow: "true"}, signal: controller.signal,
      headers: {Accept: "text/event-stream"}});
    const reader = resp.body.pipeThrough(new TextDecoderStream()).getReader();
    const parse = sseParser(({event, data}) => {
      if (event === "end") onEnd(JSON.parse(data));
      else if (event === "message") onText(data);
    });
    for (;;) {
      const {value, done} = await reader.read();
      if (done) break;
      parse(value);
    }
  })().catch((err) => {
    if (err.name !== "AbortError") onError(err);
  });
  return controller;
}
