import { parser } from '@prometheus-io/lezer-promql';
function dump(src) {
  const tree = parser.parse(src);
  let out = '';
  const c = tree.cursor();
  let depth = 0;
  const rec = () => {
    out += '  '.repeat(depth) + c.name + (c.type.isError ? '(ERR)' : '') + ` [${c.from},${c.to}] ` + JSON.stringify(src.slice(c.from, c.to)).slice(0,40) + '\n';
    if (c.firstChild()) { depth++; do rec(); while (c.nextSibling()); depth--; c.parent(); }
  };
  rec();
  console.log('=== ' + src + '\n' + out);
}
for (const s of process.argv.slice(2)) dump(s);
