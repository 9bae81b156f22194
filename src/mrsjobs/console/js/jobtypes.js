// Each job type's arguments, as the v2 API takes them (the MRS reference's layouts):
// the submit form shows a type's fields and builds its `arguments` list from them.

const lines = (text) => (text || "").split("\n").map((l) => l.trim()).filter(Boolean);

/** "--class org.Main" -> ["--class", "org.Main"]; a lone "--verbose" stays one item. */
const optionWords = (text) => lines(text).flatMap((l) => {
  const space = l.search(/\s/);
  return space < 0 ? [l] : [l.slice(0, space), l.slice(space).trim()];
});

/** "key value" lines of SQL options -> [key, value, ...]; each line needs both. */
const pairs = (text) => lines(text).flatMap((l) => {
  const space = l.search(/\s/);
  if (space < 0) throw new Error(`option "${l}" needs a value`);
  return [l.slice(0, space), l.slice(space).trim()];
});

const F = {
  sparkOptions: {name: "options", label: "spark-submit options", kind: "lines",
                 hint: "One option per line, e.g. --class org.example.Main"},
  args: {name: "args", label: "Application arguments", kind: "lines",
         hint: "One argument per line."},
  sqlOptions: {name: "options", label: "Options", kind: "lines",
               hint: "One 'key value' pair per line, e.g. --hiveconf x=1"},
};
const path = (name, label, hint) => ({name, label, kind: "text", required: true, hint});

export const JOB_TYPES = [
  {type: "SparkSubmit", fields: [F.sparkOptions,
    path("app", "Application", "A jar or .py file, e.g. hdfs:///apps/app.jar"), F.args],
   build: (v) => [...optionWords(v.options), v.app, ...lines(v.args)]},
  {type: "SparkPython", fields: [F.sparkOptions,
    path("app", "Python application", "e.g. hdfs:///apps/job.py"), F.args],
   build: (v) => [...optionWords(v.options), v.app, ...lines(v.args)]},
  {type: "SparkSql", fields: [F.sqlOptions,
    {name: "sql", label: "SQL", kind: "sql", required: true}],
   build: (v) => [...pairs(v.options), v.sql]},
  {type: "SparkScript", fields: [F.sqlOptions,
    path("script", "SQL script", "A .sql file, e.g. hdfs:///sql/report.sql")],
   build: (v) => [...pairs(v.options), v.script]},
  {type: "HiveSql", fields: [F.sqlOptions,
    {name: "sql", label: "SQL", kind: "sql", required: true}],
   build: (v) => [...pairs(v.options), v.sql]},
  {type: "HiveScript", fields: [F.sqlOptions,
    path("script", "HiveQL script", "A .sql file, e.g. hdfs:///sql/etl.sql")],
   build: (v) => [...pairs(v.options), v.script]},
  {type: "MapReduce", fields: [path("jar", "Job jar", "e.g. hdfs:///apps/wordcount.jar"),
    {...F.args, hint: "The main class (unless the jar names it), then its arguments, " +
                      "one per line."}],
   build: (v) => [v.jar, ...lines(v.args)]},
  {type: "DistCp", fields: [path("source", "Source"), path("target", "Target")],
   build: (v) => [v.source, v.target]},
  {type: "Flink", fields: [{name: "options", label: "flink run options", kind: "lines",
                            hint: "One option per line, e.g. -ynm my-job"},
    path("jar", "Job jar"), F.args],
   build: (v) => ["run", "-d", ...optionWords(v.options), "-m", "yarn-cluster", v.jar,
                  ...lines(v.args)]},
];

export function jobType(type) {
  return JOB_TYPES.find((t) => t.type === type) || JOB_TYPES[0];
}

/** "k=v" lines -> {k: v}. */
export function properties(text) {
  const found = {};
  for (const l of lines(text)) {
    const eq = l.indexOf("=");
    if (eq <= 0) throw new Error(`property "${l}" must be key=value`);
    found[l.slice(0, eq).trim()] = l.slice(eq + 1).trim();
  }
  return found;
}
