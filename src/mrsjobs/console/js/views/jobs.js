// The cluster's jobs: the v2 list filters, one page at a time (the server counts and
// pages: nothing here ever holds more than a page), refreshed while the tab is visible.

import * as api from "../api.js";
import {duration, everyWhileVisible, field, fill, h, select, when} from "../dom.js";
import {JOB_TYPES} from "../jobtypes.js";

const STATES = ["NEW", "NEW_SAVING", "SUBMITTED", "ACCEPTED", "RUNNING", "FINISHED", "FAILED",
                "KILLED"];
const RESULTS = ["UNDEFINED", "SUCCEEDED", "FAILED", "KILLED"];
const SIZES = ["10", "25", "50", "100"];
const TEXT_FILTERS = [["job_name", "Name"], ["job_id", "Job id"], ["user", "User"],
                      ["queue", "Queue"]];
export const REFRESH_MS = 3000;

const any = (values) => [["", "any"], ...values.map((v) => [v, v])];

function localTime(ms) {
  if (!ms) return "";
  const d = new Date(Number(ms));
  return new Date(d.getTime() - d.getTimezoneOffset() * 60000).toISOString().slice(0, 16);
}

function filterForm(params, go) {
  const text = (name) => h("input", {name, value: params.get(name) || "", type: "search"});
  const time = (name) => h("input", {name, type: "datetime-local",
                                     value: localTime(params.get(name))});
  return h("form", {class: "filters", role: "search", "aria-label": "Filter jobs",
    onsubmit: (e) => {
      e.preventDefault();
      const query = {};
      for (const [k, v] of new FormData(e.target)) {
        if (!v) continue;
        query[k] = k.startsWith("submitted_time_") ? String(new Date(v).getTime()) : v;
      }
      go("jobs", query);  // a new filter starts at the first page
    }},
    TEXT_FILTERS.map(([name, label]) => field(label, text(name))),
    field("Type", select("job_type", any(JOB_TYPES.map((t) => t.type)),
                         params.get("job_type") || "")),
    field("State", select("job_state", any(STATES), params.get("job_state") || "")),
    field("Result", select("job_result", any(RESULTS), params.get("job_result") || "")),
    field("Submitted from", time("submitted_time_begin")),
    field("Submitted until", time("submitted_time_end")),
    field("Per page", select("limit", SIZES, params.get("limit") || "10")),
    field("Order", select("sort_by", [["desc", "newest first"], ["asc", "oldest first"]],
                          params.get("sort_by") || "desc")),
    h("div", {class: "actions"},
      h("button", {type: "submit"}, "Filter"),
      h("button", {type: "button", onclick: () => go("jobs")}, "Clear")));
}

function row(job) {
  return h("tr", {},
    h("td", {class: "mono"}, h("a", {href: `#/jobs/${encodeURIComponent(job.job_id)}`},
                               job.job_id)),
    h("td", {class: "name"}, job.job_name),
    h("td", {}, job.job_type),
    h("td", {}, h("span", {class: `state state-${job.job_state}`}, job.job_state)),
    h("td", {}, job.job_result),
    h("td", {}, job.user),
    h("td", {}, when(job.submitted_time)),
    h("td", {}, duration(job.elapsed_time)));
}

export default function jobs({main, params, session: s, go}) {
  const page = Math.max(1, Number(params.get("offset")) || 1);
  const limit = Number(params.get("limit")) || 10;
  const descending = params.get("sort_by") !== "asc";
  const tbody = h("tbody");
  const summary = h("p", {role: "status", id: "jobs-summary"});
  const pager = h("nav", {class: "pager", "aria-label": "Pages"});
  const error = h("p", {role: "alert", class: "error"});
  const toPage = (n) => go("jobs", {...Object.fromEntries(params), offset: String(n)});

  const load = async () => {
    let body;
    try {
      body = await api.getJson(api.jobsPath(s),
                               {query: {...Object.fromEntries(params), offset: page, limit}});
      error.textContent = "";
    } catch (err) {
      error.textContent = err.message;
      return;
    }
    const total = body.total_record;
    const pages = Math.max(1, Math.ceil(total / limit));
    fill(tbody, body.job_list.length ? body.job_list.map(row)
      : h("tr", {}, h("td", {colspan: 8}, "No jobs match.")));
    summary.textContent = `${total.toLocaleString()} job${total === 1 ? "" : "s"}; ` +
      `page ${page.toLocaleString()} of ${pages.toLocaleString()}`;
    // No "last page" button: a deep page costs the store a scan of every row before it,
    // while the other end of the list is the first page of the other order.
    fill(pager,
      h("button", {type: "button", disabled: page <= 1, onclick: () => toPage(1)}, "First"),
      h("button", {type: "button", disabled: page <= 1, onclick: () => toPage(page - 1)},
        "Previous"),
      h("button", {type: "button", disabled: page >= pages, onclick: () => toPage(page + 1)},
        "Next"),
      h("button", {type: "button", onclick: () => go("jobs", {
        ...Object.fromEntries(params), offset: "1", sort_by: descending ? "asc" : "desc"})},
        descending ? "Oldest first" : "Newest first"));
  };

  main.append(h("section", {"aria-labelledby": "jobs-title"},
    h("h1", {id: "jobs-title"}, "Jobs"),
    filterForm(params, go), error, summary,
    h("table", {id: "jobs"},
      h("caption", {class: "visually-hidden"}, "Jobs of the cluster"),
      h("thead", {}, h("tr", {}, ["Job id", "Name", "Type", "State", "Result", "User",
                                  "Submitted", "Elapsed"].map(
        (t) => h("th", {scope: "col"}, t)))),
      tbody),
    pager));
  return load().then(() => everyWhileVisible(REFRESH_MS, load));
}
