// The console: a hash router over the views, and the signed-in user's bar.

import * as api from "./api.js";
import {fill, h} from "./dom.js";
import * as session from "./session.js";
import clusters from "./views/clusters.js";
import files from "./views/files.js";
import job from "./views/job.js";
import jobs from "./views/jobs.js";
import signin from "./views/signin.js";
import submit from "./views/submit.js";

const main = document.getElementById("main");
const nav = document.getElementById("nav");
const who = document.getElementById("who");
let cleanup = null;
let shown = 0;  // which route() call the page shows, so a slow view cannot outlive the next

/** #/jobs/ID?state=x -> {name: "job", id: "ID", params: URLSearchParams} */
function parseHash() {
  const [path, query = ""] = location.hash.replace(/^#\/?/, "").split("?");
  const parts = path.split("/").filter(Boolean).map(decodeURIComponent);
  return {parts, params: new URLSearchParams(query)};
}

export function go(path, params) {
  const query = params ? new URLSearchParams(params).toString() : "";
  location.hash = `#/${path}${query ? `?${query}` : ""}`;
}

async function signOut() {
  const s = session.current();
  session.clear();
  try { await api.signOut(s); } catch { /* signed out here either way */ }
  go("signin");
}

function renderBar(s) {
  nav.hidden = !s;
  for (const link of nav.querySelectorAll("[data-change]")) link.hidden = !session.mayChange(s);
  if (!s) { fill(who); return; }
  const role = s.roles.join(", ");
  fill(who,
    h("span", {}, `${s.user} · project ${s.projectName} · `),
    h("span", {class: "role", "data-role": role}, role),
    s.clusterId ? h("span", {}, ` · cluster ${s.clusterName || s.clusterId}`) : null,
    " ",
    h("button", {type: "button", onclick: signOut}, "Sign out"));
}

async function route() {
  const mine = ++shown;
  if (cleanup) { cleanup(); cleanup = null; }
  const s = session.current();
  const {parts, params} = parseHash();
  renderBar(s);
  for (const link of nav.querySelectorAll("a")) {
    link.toggleAttribute("aria-current", link.getAttribute("href") === `#/${parts[0]}`);
  }
  fill(main);
  if (!s && parts[0] !== "signin") {
    go("signin", parts.length ? {next: parts.map(encodeURIComponent).join("/")} : undefined);
    return;
  }
  const views = {signin, clusters, jobs, submit, files};
  let view = views[parts[0]];
  if (parts[0] === "jobs" && parts[1]) view = job;
  if (!view) { go(s ? "jobs" : "signin"); return; }
  if (s && !s.clusterId && view !== clusters && view !== signin) {
    go("clusters", {next: parts.map(encodeURIComponent).join("/")});
    return;
  }
  try {
    const stop = await view({main, parts, params, session: s, go,
                             refreshBar: () => renderBar(session.current())});
    if (mine === shown) cleanup = stop || null;
    else if (stop) stop();
  } catch (err) {
    if (mine === shown) fill(main, h("p", {role: "alert", class: "error"}, err.message));
  }
}

// Any call answered 401 (an expired or revoked token) signs the tab out.
window.addEventListener("mrsjobs:unauthorized", () => {
  if (session.current()) { session.clear(); go("signin", {expired: "1"}); }
});
window.addEventListener("hashchange", route);
route();
