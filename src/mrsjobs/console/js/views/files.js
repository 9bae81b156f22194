// The cluster's file area (what jobs name as hdfs:///...): browse, upload, delete.

import * as api from "../api.js";
import {bytes, confirmDialog, field, fill, h, when} from "../dom.js";
import * as session from "../session.js";

const PAGE = 100;

const join = (dir, name) => `${dir.replace(/\/+$/, "")}/${name}`;
const parent = (dir) => dir.replace(/\/+$/, "").replace(/\/[^/]*$/, "") || "/";

export default async function files({main, params, session: s, go}) {
  const dir = params.get("path") || "/";
  const page = Math.max(1, Number(params.get("offset")) || 1);
  const mayChange = session.mayChange(s);
  const error = h("p", {role: "alert", class: "error"});
  const status = h("p", {role: "status"});
  const open = (path, offset = 1) => go("files", {path, offset: String(offset)});

  const remove = async (entry) => {
    const path = join(dir, entry.path_suffix);
    if (!(await confirmDialog(`Delete ${path}?`, "Delete"))) return;
    try {
      await api.call("DELETE", api.filesPath(s), {query: {path}});
      status.textContent = `Deleted ${path}.`;
      await list();
    } catch (err) {
      error.textContent = err.message;
    }
  };

  const tbody = h("tbody");
  const summary = h("p", {id: "files-summary"});
  const pager = h("nav", {class: "pager", "aria-label": "Pages"});
  const list = async () => {
    const body = await api.getJson(api.filesPath(s), {query: {path: dir, offset: page,
                                                              limit: PAGE}});
    const pages = Math.max(1, Math.ceil(body.total_count / PAGE));
    summary.textContent = `${body.total_count} entr${body.total_count === 1 ? "y" : "ies"}` +
      ` in hdfs://${dir}; page ${page} of ${pages}`;
    fill(tbody, body.files.length ? body.files.map((f) => {
      const isDir = f.type === "DIRECTORY";
      const path = join(dir, f.path_suffix);
      return h("tr", {},
        h("td", {class: "name"}, isDir
          ? h("a", {href: `#/files?${new URLSearchParams({path})}`}, `${f.path_suffix}/`)
          : f.path_suffix),
        h("td", {}, isDir ? `${f.children_num} entries` : bytes(f.length)),
        h("td", {}, when(f.modification_time)),
        h("td", {}, f.owner),
        h("td", {}, mayChange ? h("button", {type: "button", class: "danger",
          "aria-label": `Delete ${f.path_suffix}`, onclick: () => remove(f)}, "Delete") : ""));
    }) : h("tr", {}, h("td", {colspan: 5}, "Empty.")));
    fill(pager,
      h("button", {type: "button", disabled: page <= 1, onclick: () => open(dir, page - 1)},
        "Previous"),
      h("button", {type: "button", disabled: page >= pages, onclick: () => open(dir, page + 1)},
        "Next"));
  };

  const upload = mayChange ? h("form", {id: "upload", "aria-labelledby": "upload-title",
    onsubmit: async (e) => {
      e.preventDefault();
      error.textContent = "";
      const file = e.target.elements.file.files[0];
      if (!file) return;
      const path = join(dir, file.name);
      try {
        // The body is the file, streamed by the browser; the token rides in the header.
        await api.call("PUT", api.filesPath(s), {query: {path}, body: file,
          headers: {"Content-Type": "application/octet-stream"}});
        status.textContent = `Uploaded ${path}.`;
        e.target.reset();
        await list();
      } catch (err) {
        error.textContent = err.message;
      }
    }},
    h("h2", {id: "upload-title"}, "Upload here"),
    field("File", h("input", {type: "file", name: "file", required: true})),
    h("button", {type: "submit"}, "Upload")) : null;

  main.append(h("section", {"aria-labelledby": "files-title"},
    h("h1", {id: "files-title"}, "Files"),
    h("form", {class: "filters", "aria-label": "Go to a directory", onsubmit: (e) => {
      e.preventDefault();
      open(new FormData(e.target).get("path") || "/");
    }},
      field("Directory", h("input", {name: "path", value: dir, spellcheck: "false"})),
      h("div", {class: "actions"}, h("button", {type: "submit"}, "Open"),
        dir !== "/" ? h("button", {type: "button", onclick: () => open(parent(dir))}, "Up")
          : null)),
    error, status, summary,
    h("table", {id: "files"},
      h("thead", {}, h("tr", {}, ["Name", "Size", "Modified", "Owner", ""].map(
        (t) => h("th", {scope: "col"}, t)))), tbody),
    pager, upload));
  try {
    await list();
  } catch (err) {
    error.textContent = err.message;
  }
}
