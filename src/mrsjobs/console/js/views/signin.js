// Sign in with a user name and password, or with a token made elsewhere (the CLI).

import * as api from "../api.js";
import {field, h} from "../dom.js";
import * as session from "../session.js";

export default function signin({main, params, go}) {
  if (session.current()) { go("jobs"); return; }
  const status = h("p", {role: "alert", class: "error", id: "signin-error"});
  const start = async (form, attempt) => {
    status.textContent = "";
    const button = form.querySelector("button");
    button.disabled = true;
    try {
      session.save(await attempt());
      go("clusters", {next: params.get("next") || "jobs"});
    } catch (err) {
      status.textContent = err.message;
    } finally {
      button.disabled = false;
    }
  };

  const password = h("form", {"aria-labelledby": "pw-title", onsubmit: (e) => {
    e.preventDefault();
    const f = new FormData(e.target);
    start(e.target, () => api.signIn(f.get("user"), f.get("password"), f.get("project")));
  }},
  h("h2", {id: "pw-title"}, "Sign in"),
  field("User name", h("input", {name: "user", required: true, autocomplete: "username"})),
  field("Password", h("input", {name: "password", type: "password", required: true,
                               autocomplete: "current-password"})),
  field("Project", h("input", {name: "project", autocomplete: "off"}),
        "Only if your user name is in more than one project."),
  h("button", {type: "submit"}, "Sign in"));

  const token = h("form", {"aria-labelledby": "tk-title", onsubmit: (e) => {
    e.preventDefault();
    const value = new FormData(e.target).get("token").trim();
    start(e.target, () => api.useToken(value));
  }},
  h("h2", {id: "tk-title"}, "Or use a token"),
  field("Token", h("input", {name: "token", type: "password", required: true,
                            autocomplete: "off", spellcheck: "false"}),
        "An X-Auth-Token, e.g. from `mrsjobs token create`."),
  h("button", {type: "submit"}, "Use token"));

  main.append(h("section", {class: "signin"},
    params.get("expired") ? h("p", {role: "status"}, "Your session ended: sign in again.")
      : null,
    password, token, status));
  main.querySelector("input").focus();
}
