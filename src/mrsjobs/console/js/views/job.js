// One job: its fields, why it ended (`diagnostics`), its live log, its Spark UI, and
// kill and delete behind a confirmation.

import * as api from "../api.js";
import {confirmDialog, duration, everyWhileVisible, fill, h, when} from "../dom.js";
import {followLog} from "../logstream.js";
import * as session from "../session.js";

const TERMINAL = new Set(["FINISHED", "FAILED", "KILLED"]);
const REFRESH_MS = 2000;
// The page keeps the end of a long log, not all of it.
const MAX_LOG_CHARS = 512 * 1024;
const TAIL_BYTES = 256 * 1024;
const TIMES = new Set(["submitted_time", "started_time", "finished_time"]);

/** A link only to this service or an http(s) address: never a javascript: URL. */
function safeUrl(url) {
  try {
    const parsed = new URL(url, location.origin);
    return ["http:", "https:"].includes(parsed.protocol) ? parsed.href : null;
  } catch {
    return null;
  }
}

/** A Spark UI this service proxies (a local cluster's job), which needs the token. */
function proxied(url) {
  const parsed = new URL(url);
  return parsed.origin === location.origin && parsed.pathname.endsWith("/spark-ui/");
}

function shown(key, value) {
  if (TIMES.has(key)) return when(value);
  if (key === "elapsed_time") return duration(value);
  if (value !== null && typeof value === "object") return JSON.stringify(value, null, 2);
  return String(value ?? "");
}

function fields(job) {
  return h("dl", {class: "fields"}, Object.entries(job)
    .filter(([key]) => key !== "diagnostics")
    .flatMap(([key, value]) => [h("dt", {}, key),
                                h("dd", {dataset: {field: key}}, shown(key, value))]));
}

function diagnostics(job) {
  if (job.diagnostics === undefined || job.diagnostics === null || job.diagnostics === "") {
    return null;
  }
  return h("section", {"aria-labelledby": "diag-title", class: "diagnostics"},
    h("h2", {id: "diag-title"}, "Diagnostics"),
    h("pre", {id: "diagnostics"}, shown("diagnostics", job.diagnostics)));
}

function logPanel(path) {
  const pre = h("pre", {id: "log", class: "log", tabindex: 0, "aria-label": "Job log",
                        "aria-live": "off"});
  const state = h("p", {role: "status", id: "log-status"});
  const unavailable = (err) => {
    if (err.name === "AbortError") return;
    state.textContent = `The log is not available: ${err.message}`;
  };
  const append = (text) => {
    const atEnd = pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 4;
    // The events carry the log's text exactly, partial lines included.
    let all = pre.textContent + text;
    if (all.length > MAX_LOG_CHARS) all = all.slice(all.length - MAX_LOG_CHARS);
    pre.textContent = all;
    if (atEnd) pre.scrollTop = pre.scrollHeight;
  };
  let stream = new AbortController();

  const show = async (type) => {
    stream.abort();
    const mine = stream = new AbortController();
    pre.textContent = "";
    state.textContent = `Following ${type}…`;
    for (const b of buttons) b.setAttribute("aria-pressed", String(b.value === type));
    let start = 0;
    try {
      // Start near the end of a long log: its size first, then follow from there.
      const head = await api.call("GET", `${path}/log`, {query: {type, offset: 0, limit: 1},
                                                          signal: mine.signal});
      start = Math.max(0, (Number(head.headers.get("X-Log-Size")) || 0) - TAIL_BYTES);
    } catch (err) {
      unavailable(err);
      return;
    }
    if (mine.signal.aborted) return;
    if (start) append(`[${start.toLocaleString()} earlier bytes not shown]\n`);
    const following = followLog(path, type, start, {
      onText: append,
      onEnd: (end) => { state.textContent = `The job ended: ${end.job_state}.`; },
      onError: unavailable,
    });
    mine.signal.addEventListener("abort", () => following.abort());
  };
  const buttons = ["stdout", "stderr"].map((type) => h("button", {
    type: "button", value: type, "aria-pressed": "false", onclick: () => show(type)}, type));
  const section = h("section", {"aria-labelledby": "log-title"},
    h("h2", {id: "log-title"}, "Log"),
    h("div", {role: "group", "aria-label": "Log stream"}, buttons), state, pre);
  show("stdout");
  return {section, stop: () => stream.abort()};
}

export default async function job({main, parts, session: s, go}) {
  const id = parts[1];
  const path = api.jobsPath(s, id);
  const detail = h("div", {id: "job-detail"});
  const controls = h("div", {class: "actions"});
  const error = h("p", {role: "alert", class: "error"});
  const mayChange = session.mayChange(s);

  const act = async (question, label, action) => {
    if (!(await confirmDialog(question, label))) return;
    error.textContent = "";
    try {
      await action();
    } catch (err) {
      error.textContent = err.message;
    }
  };
  const kill = () => act(`Kill job ${id}? It is stopped at once.`, "Kill", async () => {
    await api.call("POST", `${path}/kill`);
    await load();
  });
  const remove = () => act(`Delete job ${id}? A running job is killed first.`, "Delete",
    async () => {
      await api.call("POST", `${api.jobsPath(s)}/batch-delete`, {json: {job_id_list: [id]}});
      go("jobs");
    });

  const openUi = async (event) => {
    event.preventDefault();
    error.textContent = "";
    try {
      await api.openSparkUi(event.currentTarget.href);
    } catch (err) {
      error.textContent = err.message;
    }
  };

  const render = (job) => {
    const tracking = job.tracking_url && safeUrl(job.tracking_url);
    fill(detail,
      h("p", {class: "summary"},
        h("span", {class: `state state-${job.job_state}`, id: "job-state"}, job.job_state),
        " ", job.job_result),
      tracking ? h("p", {}, h("a", {href: tracking, target: "_blank",
                                    rel: "noopener noreferrer", id: "spark-ui",
                                    onclick: proxied(tracking) ? openUi : null},
                              "Spark UI")) : null,
      diagnostics(job), fields(job));
    fill(controls, mayChange ? [
      TERMINAL.has(job.job_state) ? null
        : h("button", {type: "button", class: "danger", onclick: kill}, "Kill"),
      h("button", {type: "button", onclick: remove}, "Delete"),
    ] : null);
  };
  let last = "";
  const load = async () => {
    try {
      const job = (await api.getJson(path)).job_detail;
      // Redrawn only when something changed: a control under the pointer stays put.
      if (JSON.stringify(job) !== last) render(job);
      last = JSON.stringify(job);
      error.textContent = "";
    } catch (err) {
      error.textContent = err.message;
    }
  };

  const log = logPanel(path);
  main.append(h("section", {"aria-labelledby": "job-title"},
    h("p", {}, h("a", {href: "#/jobs"}, "← Jobs")),
    h("h1", {id: "job-title"}, "Job ", h("span", {class: "mono"}, id)),
    error, controls, detail, log.section));
  await load();
  const stopRefresh = everyWhileVisible(REFRESH_MS, load);
  return () => { stopRefresh(); log.stop(); };
}
