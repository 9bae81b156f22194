// Building the page from data. Text always goes in as text nodes: no job field, file
// name or error message is ever parsed as HTML.

/** An element: h("a", {href: "#/jobs", class: "x"}, "text", child, ...). */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith("on")) el.addEventListener(key.slice(2), value);
    else if (key === "dataset") Object.assign(el.dataset, value);
    else if (value === true) el.setAttribute(key, "");
    else el.setAttribute(key, String(value));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

/** Replace what `el` holds. */
export function fill(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

/** A labelled form field: the label names the control (for screen readers too). */
export function field(label, control, hint) {
  const id = control.id || `f-${label.toLowerCase().replace(/[^a-z0-9]+/g, "-")}`;
  control.id = id;
  const hintEl = hint ? h("small", {id: `${id}-hint`}, hint) : null;
  if (hintEl) control.setAttribute("aria-describedby", hintEl.id);
  return h("div", {class: "field"}, h("label", {for: id}, label), control, hintEl);
}

/** A <select> of `options` ([value, text] pairs or plain values). */
export function select(name, options, value = "") {
  return h("select", {name},
    options.map((o) => {
      const [v, text] = Array.isArray(o) ? o : [o, o];
      return h("option", {value: v, selected: v === value}, text);
    }));
}

/** Milliseconds since the epoch as a local date and time; "" for 0. */
export function when(ms) {
  return ms ? new Date(ms).toLocaleString() : "";
}

/** A duration in ms as "1h 2m 3s". */
export function duration(ms) {
  if (!ms) return "";
  const s = Math.round(ms / 1000);
  const parts = [[Math.floor(s / 3600), "h"], [Math.floor(s / 60) % 60, "m"], [s % 60, "s"]];
  const shown = parts.filter(([n], i) => n || i === 2);
  return shown.map(([n, unit]) => `${n}${unit}`).join(" ");
}

/** A byte count as "1.2 MiB". */
export function bytes(n) {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i += 1; }
  return `${i ? n.toFixed(1) : n} ${units[i]}`;
}

/** Ask for confirmation in a modal dialog; resolves to true if confirmed. */
export function confirmDialog(question, action) {
  return new Promise((resolve) => {
    const dialog = h("dialog", {class: "confirm", "aria-labelledby": "confirm-question"},
      h("form", {method: "dialog"},
        h("p", {id: "confirm-question"}, question),
        h("menu", {},
          h("button", {value: "cancel", type: "submit"}, "Cancel"),
          h("button", {value: "ok", type: "submit", class: "danger"}, action))));
    dialog.addEventListener("close", () => {
      dialog.remove();
      resolve(dialog.returnValue === "ok");
    });
    document.body.append(dialog);
    dialog.showModal();
  });
}

/** Run `task` every `ms` while the page is visible (at once when it shows again),
 * until the returned stop() is called. */
export function everyWhileVisible(ms, task) {
  let timer = null;
  let stopped = false;
  const tick = async () => {
    clearTimeout(timer);
    if (document.visibilityState === "visible") {
      try { await task(); } catch { /* the view shows its own errors */ }
    }
    if (!stopped) timer = setTimeout(tick, ms);
  };
  const onVisible = () => { if (document.visibilityState === "visible" && !stopped) tick(); };
  document.addEventListener("visibilitychange", onVisible);
  timer = setTimeout(tick, ms);
  return () => {
    stopped = true;
    clearTimeout(timer);
    document.removeEventListener("visibilitychange", onVisible);
  };
}
