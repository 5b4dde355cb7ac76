'use strict';
// Status rings in the editor's language (nodes/shared.ts ringText): every short text lib/ and the
// nodes can put on a ring has its entry in the action and trigger nodes' locale files, and the
// lookup falls back to the words as given.

const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { ringText } = require('../../dist/nodes/shared');
const { SHORT_OF_REASON } = require('../../dist/lib/errors');

const ROOT = path.resolve(__dirname, '..', '..');

function sources() {
  const out = [];
  const walk = (dir) => {
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name.endsWith('.ts')) out.push(fs.readFileSync(p, 'utf8'));
    }
  };
  walk(path.join(ROOT, 'lib'));
  walk(path.join(ROOT, 'nodes'));
  return out.join('\n');
}

/** The last argument of each call of `fn(` in `src`, when it is a plain string literal. */
function lastLiteralOfCalls(src, fn) {
  const found = [];
  let at = 0;
  for (;;) {
    const i = src.indexOf(`${fn}(`, at);
    if (i < 0) return found;
    let depth = 0;
    let j = i + fn.length;
    for (; j < src.length; j++) {
      if (src[j] === '(') depth++;
      else if (src[j] === ')' && --depth === 0) break;
    }
    const last = /,\s*'([^'\n]*)'\s*,?\s*$/.exec(src.slice(i, j));
    if (last) found.push(last[1]);
    at = j;
  }
}

/** Every fixed short text: `short: '…'`, the shorts of lib/context.ts's and lib/inline.ts's `bad(…)`, the reasons', the error codes'. */
function shortTexts() {
  const src = sources();
  const set = new Set([...src.matchAll(/short: '([^'$]+)'/g)].map((m) => m[1]));
  for (const f of ['lib/context.ts', 'lib/inline.ts']) for (const s of lastLiteralOfCalls(fs.readFileSync(path.join(ROOT, f), 'utf8'), 'bad')) set.add(s);
  for (const s of Object.values(SHORT_OF_REASON)) set.add(s);
  for (const code of ['application_error', 'developer_error', 'timeout', 'http', 'unreachable', 'docker', 'config', 'overload', 'input'])
    set.add(code.replace('_', ' '));
  for (const s of ['failed', 'deploy failed']) set.add(s);
  return set;
}

const key = (words) =>
  words
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '');

describe('status ring texts from the locale files', () => {
  for (const ns of ['openwhisk-action', 'openwhisk-trigger']) {
    it(`every short text has its entry in ${ns}'s en-US locale, in the same words`, () => {
      const short = JSON.parse(fs.readFileSync(path.join(ROOT, 'nodes', 'locales', 'en-US', `${ns}.json`), 'utf8'))[ns].short;
      const texts = shortTexts();
      assert.ok(texts.size > 50, `found ${texts.size} short texts`);
      const missing = [...texts].filter((s) => short[key(s)] !== s);
      assert.deepEqual(missing, [], 'missing or different in the locale');
    });
  }

  it('ringText takes the translation, keeps a quoted detail, and shows words the locale lacks as given', () => {
    const fr = { 'openwhisk-action.short.capacity-full': 'capacité pleine', 'openwhisk-action.short.action-error': "erreur de l'action" };
    const translate = (k) => fr[k] ?? k; // as RED._: the key itself when there is no entry
    assert.equal(ringText(translate, 'openwhisk-action', 'capacity full'), 'capacité pleine');
    assert.equal(ringText(translate, 'openwhisk-action', 'action error: division by zero'), "erreur de l'action: division by zero");
    assert.equal(ringText(translate, 'openwhisk-action', 'HTTP 502'), 'HTTP 502');
  });
});
