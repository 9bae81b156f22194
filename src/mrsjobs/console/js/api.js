// The service's HTTP API, called as any client calls it: the token in X-Auth-Token,
// errors read from MRS's envelope {error_code, error_msg}.

import * as session from "./session.js";

export class ApiError extends Error {
  constructor(status, code, message) {
    super(code ? `${message} (${code})` : message);
    this.status = status;
    this.code = code;
  }
}

async function failure(resp) {
  let code = "";
  let message = `${resp.status} ${resp.statusText}`;
  try {
    const body = await resp.json();
    code = body.error_code || "";
    message = body.error_msg || body.error?.message || message;
  } catch { /* not a JSON envelope */ }
  if (resp.status === 401) window.dispatchEvent(new CustomEvent("mrsjobs:unauthorized"));
  return new ApiError(resp.status, code, message);
}

/** A request with the session's token; the Response if it succeeded, else ApiError. */
export async function call(method, path, {query, json, body, headers = {}, token, signal} = {}) {
  const url = new URL(path, location.origin);
  for (const [k, v] of Object.entries(query || {})) {
    if (v !== undefined && v !== null && v !== "") url.searchParams.set(k, v);
  }
  const sent = {...headers};
  const auth = token ?? session.current()?.token;
  if (auth) sent["X-Auth-Token"] = auth;
  if (json !== undefined) {
    sent["Content-Type"] = "application/json";
    body = JSON.stringify(json);
  }
  // credentials "omit": no cookie or HTTP auth of this origin ever rides along.
  const resp = await fetch(url, {method, headers: sent, body, signal, credentials: "omit",
                                 cache: "no-store"});
  if (!resp.ok) throw await failure(resp);
  return resp;
}

/**
 * Open a job's Spark UI (its tracking_url on this service) in a new tab. The tab sends
 * no X-Auth-Token: a request with it comes first, whose answer sets the cookie that
 * UI's pages are read with (HttpOnly, for that job's UI only). ApiError if the UI is
 * not up.
 */
export async function openSparkUi(url) {
  const auth = session.current()?.token;
  const resp = await fetch(url, {headers: auth ? {"X-Auth-Token": auth} : {},
                                 credentials: "same-origin", cache: "no-store"});
  if (!resp.ok) throw await failure(resp);
  window.open(url, "_blank", "noopener,noreferrer");
}

export async function getJson(path, options) {
  return (await call("GET", path, options)).json();
}

// -- identity ---------------------------------------------------------------------------

function sessionOf(token, body, issued) {
  const t = body.token;
  return {token, issued, projectId: t.project.id, projectName: t.project.name,
          user: t.user.name, roles: t.roles.map((r) => r.name), clusterId: ""};
}

/** Sign in with a user name and password (Keystone's password method). */
export async function signIn(user, password, project) {
  const auth = {identity: {methods: ["password"], password: {
    user: {name: user, domain: {name: "Default"}, password}}}};
  if (project) auth.scope = {project: {name: project, domain: {name: "Default"}}};
  const resp = await call("POST", "/v3/auth/tokens", {json: {auth}, token: ""});
  const token = resp.headers.get("X-Subject-Token");
  return sessionOf(token, await resp.json(), true);
}

/** Check a pasted token: Keystone's validate, of the token by itself. */
export async function useToken(token) {
  const resp = await call("GET", "/v3/auth/tokens",
                          {token, headers: {"X-Subject-Token": token}});
  return sessionOf(token, await resp.json(), false);
}

/** Revoke a token the console issued (a pasted one belongs to whoever made it). */
export async function signOut(s) {
  if (s?.issued) {
    await call("DELETE", "/v3/auth/tokens", {token: s.token,
                                             headers: {"X-Subject-Token": s.token}});
  }
}

// -- routes of a project and cluster ----------------------------------------------------

export function jobsPath(s, jobId = "") {
  const base = `/v2/${enc(s.projectId)}/clusters/${enc(s.clusterId)}/job-executions`;
  return jobId ? `${base}/${enc(jobId)}` : base;
}

export function filesPath(s) {
  return `/v2/${enc(s.projectId)}/clusters/${enc(s.clusterId)}/files`;
}

export function clustersPath(s) {
  return `/v1.1/${enc(s.projectId)}/cluster_infos`;
}

function enc(part) {
  return encodeURIComponent(part);
}
