// The signed-in user, kept in sessionStorage: it lasts as long as the tab and is sent
// only by this page's code, in the X-Auth-Token header. (The one cookie, for a running
// job's Spark UI tab, is the service's: see api.openSparkUi.)

const KEY = "mrsjobs.session";

/** {token, projectId, projectName, user, roles, issued, clusterId} or null. */
export function current() {
  try {
    return JSON.parse(sessionStorage.getItem(KEY) || "null");
  } catch {
    return null;
  }
}

export function save(session) {
  sessionStorage.setItem(KEY, JSON.stringify(session));
}

export function update(changes) {
  const session = current();
  if (session) save({...session, ...changes});
}

export function clear() {
  sessionStorage.removeItem(KEY);
}

/** Whether the user may submit, kill, delete and upload (the server checks it too). */
export function mayChange(session) {
  return Boolean(session) && !session.roles.includes("readonly");
}
