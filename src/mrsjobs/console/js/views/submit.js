// Submit a job: the form shows the chosen type's arguments and the list they make.

import * as api from "../api.js";
import {field, fill, h, select} from "../dom.js";
import {JOB_TYPES, jobType, properties} from "../jobtypes.js";
import * as session from "../session.js";

function control(f) {
  const attrs = {name: f.name, required: f.required || null, spellcheck: "false"};
  if (f.kind === "text") return h("input", attrs);
  return h("textarea", {...attrs, rows: f.kind === "sql" ? 6 : 3});
}

export default function submit({main, params, session: s, go}) {
  if (!session.mayChange(s)) {
    main.append(h("p", {role: "alert"}, "Your role may not submit jobs."));
    return;
  }
  const typeSelect = select("job_type", JOB_TYPES.map((t) => t.type),
                            params.get("type") || "SparkSubmit");
  const typeFields = h("fieldset", {}, h("legend", {}, "Arguments"));
  const preview = h("output", {id: "arguments-preview", for: "submit-form",
                               "aria-live": "polite"});
  const error = h("p", {role: "alert", class: "error"});

  const values = () => Object.fromEntries(new FormData(form));
  const showPreview = () => {
    try {
      preview.textContent = JSON.stringify(jobType(typeSelect.value).build(values()));
    } catch (err) {
      preview.textContent = err.message;
    }
  };
  const showType = () => {
    fill(typeFields, h("legend", {}, `Arguments of a ${typeSelect.value} job`),
         jobType(typeSelect.value).fields.map((f) => field(f.label, control(f), f.hint)));
    showPreview();
  };
  typeSelect.addEventListener("change", showType);

  const form = h("form", {id: "submit-form", "aria-labelledby": "submit-title",
    oninput: showPreview,
    onsubmit: async (e) => {
      e.preventDefault();
      error.textContent = "";
      const v = values();
      try {
        const body = {job_type: v.job_type, job_name: v.job_name,
                      arguments: jobType(v.job_type).build(v),
                      properties: properties(v.properties)};
        const resp = await api.call("POST", api.jobsPath(s), {json: body});
        const id = (await resp.json()).job_submit_result.job_id;
        go(`jobs/${encodeURIComponent(id)}`);
      } catch (err) {
        error.textContent = err.message;
      }
    }},
    h("h1", {id: "submit-title"}, "Submit a job"),
    field("Job type", typeSelect),
    field("Job name", h("input", {name: "job_name", required: true, maxlength: 64,
                                  pattern: "[A-Za-z0-9_\\-]+"}),
          "Letters, digits, - and _ (up to 64)."),
    typeFields,
    field("Properties", h("textarea", {name: "properties", rows: 3, spellcheck: "false"}),
          "One key=value per line, e.g. spark.executor.memory=2g"),
    h("p", {}, "Arguments sent: ", preview),
    error,
    h("button", {type: "submit"}, "Submit"));
  main.append(form);
  showType();
}
