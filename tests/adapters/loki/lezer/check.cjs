const { parser } = require("@grafana/lezer-logql");
const lines = require("fs").readFileSync(0, "utf8").split("\n").filter(Boolean);
const out = lines.map((q) => {
  const query = JSON.parse(q);
  const tree = parser.parse(query);
  let error = false;
  tree.iterate({ enter: (n) => { if (n.type.isError) error = true; } });
  return error ? 0 : 1;
});
process.stdout.write(JSON.stringify(out));
