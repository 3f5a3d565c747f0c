// docs.mjs: writes the generated parts of the docs from their one source:
// the table of settings (src/settings.ts) into README.md ("Settings") and
// into the ServeOptions interface of src/types.ts, and the response headers
// the server owns (src/gateway/http-rules.ts) into README.md
// ("startResponse"). Each part sits between `<name>:begin` and `<name>:end`
// markers. test/docs.test.ts fails when a part is stale.
//
//   npm run docs            rewrite the parts
//   npm run docs -- --check exit 1 (and name the file) when one is stale
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

/** The README's table of settings. */
export function settingsTable(settings) {
  const { SETTINGS, formatDefault, describeRange } = settings;
  const lines = [
    '| option (config key) | flag | environment | default | accepted | what |',
    '| --- | --- | --- | --- | --- | --- |',
  ];
  for (const s of SETTINGS) {
    const flag =
      s.flag === null
        ? s.key === 'host' || s.key === 'port'
          ? '`--bind`'
          : ''
        : `\`${s.short ? `${s.short}, ` : ''}${s.flag}\``;
    lines.push(
      `| \`${s.key}\` | ${flag} | \`${s.env}\` | ${formatDefault(s)} | ${describeRange(s)} | ${s.help} |`,
    );
  }
  return lines.join('\n');
}

/** The settings block of ServeOptions in src/types.ts (`supervisor`
 * false), or of SupervisorOptions (true). */
export function optionsBlock(settings, supervisor = false) {
  const { SETTINGS, formatDefault, describeRange } = settings;
  const type = (s) => {
    if (s.list) return 'string | readonly string[]';
    if (s.auto) return "number | 'auto'";
    if (s.type === 'string' || s.type === 'boolean') return s.type;
    if (s.type === 'choice') return s.key === 'server' ? 'ServerKind' : s.choices.map((c) => `'${c}'`).join(' | ');
    return 'number';
  };
  const out = [];
  for (const s of SETTINGS.filter((x) => Boolean(x.supervisor) === supervisor)) {
    const help = s.help.charAt(0).toUpperCase() + s.help.slice(1);
    const flag = s.flag === null ? '' : ` Flag \`${s.flag}\`.`;
    out.push(...wrapComment(`${help}. Default ${formatDefault(s)}; ${describeRange(s)}.${flag}`, '  '));
    out.push(`  ${s.key}?: ${type(s)};`);
  }
  return out.join('\n');
}

/** A JSDoc comment of `text`, wrapped at 78 columns. */
function wrapComment(text, indent) {
  if (indent.length + text.length + 7 <= 78) return [`${indent}/** ${text} */`];
  const lines = [];
  let line = `${indent}/**`;
  for (const word of text.split(' ')) {
    if (line.length + 1 + word.length > 78) {
      lines.push(line);
      line = `${indent} *`;
    }
    line += ` ${word}`;
  }
  lines.push(`${line} */`);
  return lines;
}

/** The README's list of the response headers the server owns. */
export function ownedHeadersTable(rules) {
  const { OWNED_HEADERS, HeaderRole } = rules;
  const role = (r) =>
    r === HeaderRole.ContentLength ? 'honoured' : r === HeaderRole.Connection ? '`close` honoured' : 'dropped';
  const lines = ['| header | the server | why |', '| --- | --- | --- |'];
  for (const [name, { role: r, why }] of OWNED_HEADERS) {
    const title = name.replace(/(^|-)([a-z])/g, (_, d, c) => d + c.toUpperCase()).replace(/^Te$/, 'TE');
    lines.push(`| \`${title}\` | ${role(r)} | ${why} |`);
  }
  return lines.join('\n');
}

/** Replaces the text between the markers `<name>:begin` and `<name>:end`
 * (the marker lines are kept). */
export function replaceBlock(text, name, body, file) {
  const begin = text.indexOf(`${name}:begin`);
  const end = text.indexOf(`${name}:end`);
  if (begin < 0 || end < begin) throw new Error(`${file}: no ${name}:begin/${name}:end markers`);
  const from = text.indexOf('\n', begin) + 1;
  const to = text.lastIndexOf('\n', end) + 1;
  return text.slice(0, from) + body + '\n' + text.slice(to);
}

/** The generated files, as they should be: [path, text] pairs. */
export function generate(settings, rules, read = (path) => readFileSync(join(root, path), 'utf8')) {
  let readme = read('README.md');
  readme = replaceBlock(readme, 'settings', settingsTable(settings), 'README.md');
  readme = replaceBlock(readme, 'owned-headers', ownedHeadersTable(rules), 'README.md');
  let types = replaceBlock(read('src/types.ts'), 'settings', optionsBlock(settings), 'src/types.ts');
  types = replaceBlock(types, 'supervisor-settings', optionsBlock(settings, true), 'src/types.ts');
  return [
    ['README.md', readme],
    ['src/types.ts', types],
  ];
}

/** Imports a TypeScript module of src/ without building: its types are
 * stripped by the TypeScript compiler (both sources import only types). */
async function importSource(path) {
  const ts = (await import('typescript')).default;
  const source = readFileSync(join(root, path), 'utf8');
  const { outputText } = ts.transpileModule(source, {
    compilerOptions: { module: ts.ModuleKind.ES2022, target: ts.ScriptTarget.ES2022, verbatimModuleSyntax: true },
  });
  return import(`data:text/javascript;base64,${Buffer.from(outputText).toString('base64')}`);
}

async function main() {
  const check = process.argv.includes('--check');
  const settings = await importSource('src/settings.ts');
  const rules = await importSource('src/gateway/http-rules.ts');
  let stale = 0;
  for (const [path, text] of generate(settings, rules)) {
    if (readFileSync(join(root, path), 'utf8') === text) continue;
    stale++;
    if (check) console.error(`docs: ${path} is stale: run npm run docs`);
    else writeFileSync(join(root, path), text);
  }
  if (check && stale > 0) process.exit(1);
  if (!check) console.log(stale === 0 ? 'docs: up to date' : `docs: ${stale} file(s) written`);
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  main().catch((err) => {
    console.error(`docs: ${err.message}`);
    process.exit(1);
  });
}
