'use strict';
// The documentation's relative links and images lead somewhere: every one in README.md, ARCHITECTURE.md,
// CONTRIBUTING.md, docs/*.md and bench/README.md names a file of the repository, and its #anchor, if any,
// a heading of the Markdown file it points at (as GitHub and npmjs.com make heading anchors).
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');

const ROOT = path.resolve(__dirname, '..', '..');

function docFiles(root) {
  const docs = path.join(root, 'docs');
  const inDocs = fs.existsSync(docs)
    ? fs
        .readdirSync(docs)
        .filter((f) => f.endsWith('.md'))
        .map((f) => path.join('docs', f))
    : [];
  return ['README.md', 'ARCHITECTURE.md', 'CONTRIBUTING.md', 'bench/README.md', ...inDocs].filter((f) => fs.existsSync(path.join(root, f)));
}

/** The text without fenced code blocks and inline code spans: links there are examples, not links. */
function prose(text) {
  return text.replace(/^(```|~~~)[^\n]*\n[\s\S]*?^\1[^\n]*$/gm, '').replace(/(`+)[\s\S]*?\1/g, '');
}

/** Inline links and images: [text](target) and ![alt](target "title"); <img src="…"> too. */
function links(text) {
  const out = [];
  const md = /!?\[(?:[^\]\\]|\\.)*\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g;
  for (let m; (m = md.exec(text));) out.push(m[1]);
  const img = /<img\b[^>]*\bsrc="([^"]+)"/gi;
  for (let m; (m = img.exec(text));) out.push(m[1]);
  return out;
}

/** GitHub's heading anchors: the heading's text, lower case, without punctuation, spaces as '-', repeats numbered. */
function anchors(text) {
  const seen = new Map();
  const out = new Set();
  const stripped = text.replace(/^(```|~~~)[^\n]*\n[\s\S]*?^\1[^\n]*$/gm, '');
  for (const m of stripped.matchAll(/^#{1,6}[ \t]+(.+?)[ \t#]*$/gm)) {
    const words = m[1]
      .replace(/!?\[([^\]]*)\]\([^)]*\)/g, '$1')
      .replace(/<[^>]+>/g, '')
      .replace(/[`*]/g, '');
    const base = words
      .toLowerCase()
      .replace(/[^\p{L}\p{M}\p{N}\p{Pc} -]/gu, '')
      .replace(/ /g, '-');
    const n = seen.get(base) ?? 0;
    seen.set(base, n + 1);
    out.add(n === 0 ? base : `${base}-${n}`);
  }
  return out;
}

/** What is wrong with each relative link of the Markdown file `rel` (path from root); [] when nothing. */
function brokenLinks(root, rel) {
  const file = path.join(root, rel);
  const problems = [];
  for (const target of links(prose(fs.readFileSync(file, 'utf8')))) {
    if (/^[a-z][a-z0-9+.-]*:/i.test(target) || target.startsWith('//')) continue; // https:, mailto:, …
    const [rawPath, anchor] = target.split('#', 2);
    const to = rawPath ? path.resolve(path.dirname(file), decodeURIComponent(rawPath)) : file;
    const where = `${rel}: (${target})`;
    if (path.relative(root, to).startsWith('..') || path.isAbsolute(rawPath || '.')) {
      problems.push(`${where} leads outside the repository`);
      continue;
    }
    if (!fs.existsSync(to)) {
      problems.push(`${where}: no such file ${path.relative(root, to)}`);
      continue;
    }
    if (anchor !== undefined) {
      if (!to.endsWith('.md') || !fs.statSync(to).isFile()) {
        problems.push(`${where}: an anchor into ${path.relative(root, to)}, which is not a Markdown file`);
      } else if (!anchors(fs.readFileSync(to, 'utf8')).has(anchor)) {
        problems.push(`${where}: ${path.relative(root, to)} has no heading #${anchor}`);
      }
    }
  }
  return problems;
}

describe('documentation links', function () {
  it('every relative link and image of the documentation leads to a file, and each anchor to a heading', function () {
    const files = docFiles(ROOT);
    assert.ok(files.includes('README.md') && files.some((f) => f.startsWith('docs/')), `documentation found: ${files.join(', ')}`);
    const problems = files.flatMap((f) => brokenLinks(ROOT, f));
    assert.deepEqual(problems, [], `broken links:\n${problems.join('\n')}`);
  });

  it('catches a missing file, a missing heading and a link out of the repository', function () {
    const dir = fs.mkdtempSync(path.join(require('node:os').tmpdir(), 'docs-links-'));
    try {
      fs.mkdirSync(path.join(dir, 'docs'));
      fs.writeFileSync(path.join(dir, 'docs', 'a.md'), '# A page\n\n## Local mode (`bench/local.js`)\n\n## Twice\n\n## Twice\n');
      fs.writeFileSync(
        path.join(dir, 'README.md'),
        [
          '# Title',
          '[ok](docs/a.md) [ok](docs/a.md#local-mode-benchlocaljs) [ok](docs/a.md#twice-1) [ok](#title) ![ok](docs/a.md)',
          '`[not a link](nowhere.md)`',
          '```',
          '[not a link either](nowhere.md)',
          '```',
          '[gone](docs/b.md) [no heading](docs/a.md#nothing) [out](../x.md) ![gone image](docs/b.png) [external](https://example.org/x.md)',
        ].join('\n'),
      );
      assert.deepEqual(brokenLinks(dir, 'README.md'), [
        'README.md: (docs/b.md): no such file docs/b.md',
        'README.md: (docs/a.md#nothing): docs/a.md has no heading #nothing',
        'README.md: (../x.md) leads outside the repository',
        'README.md: (docs/b.png): no such file docs/b.png',
      ]);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
