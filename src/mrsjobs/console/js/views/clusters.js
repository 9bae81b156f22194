// The project's clusters; choosing one sets where the other pages look.

import * as api from "../api.js";
import {h, when} from "../dom.js";
import * as session from "../session.js";

const PAGE = 100;

export default async function clusters({main, params, session: s, go, refreshBar}) {
  const next = params.get("next");
  const body = await api.getJson(api.clustersPath(s), {query: {pageSize: PAGE,
                                                                currentPage: 1}});
  const use = (c) => {
    session.update({clusterId: c.clusterId, clusterName: c.clusterName});
    refreshBar();
    go(next || "jobs");
  };
  if (!s.clusterId && next && body.clusters.length === 1) { use(body.clusters[0]); return; }
  main.append(h("section", {"aria-labelledby": "clusters-title"},
    h("h1", {id: "clusters-title"}, "Clusters"),
    h("p", {}, `${body.clusterTotal} cluster${body.clusterTotal === 1 ? "" : "s"}` +
      (body.clusterTotal > PAGE ? `; the first ${PAGE} are shown.` : ".")),
    h("table", {},
      h("thead", {}, h("tr", {},
        ["Name", "Id", "State", "Components", "Engine", "Created", ""].map(
          (t) => h("th", {scope: "col"}, t)))),
      h("tbody", {}, body.clusters.map((c) => h("tr", {
        "aria-current": c.clusterId === s.clusterId ? "true" : null},
        h("td", {}, c.clusterName),
        h("td", {class: "mono"}, c.clusterId),
        h("td", {}, c.clusterState),
        h("td", {}, (c.componentList || []).map((x) => x.componentName).join(", ")),
        h("td", {}, c.remark || ""),
        h("td", {}, when(Number(c.createAt) * 1000)),
        h("td", {}, h("button", {type: "button", onclick: () => use(c)},
          c.clusterId === s.clusterId ? "Selected" : `Use ${c.clusterName}`))))))));
}
