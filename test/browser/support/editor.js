'use strict';
/* global window, document, RED, MutationObserver, getComputedStyle, requestAnimationFrame -- page.evaluate() functions run in the editor page */
/**
 * Driving the Node-RED editor (4.1 and 5) with playwright-core: real mouse and keyboard input on
 * the palette, the workspace SVG, the edit trays and the sidebars. Reads what the user sees (the
 * status text under a node, the debug sidebar), and records every status text the SVG shows.
 */

const NODE = (id) => `#red-ui-workspace-chart g.red-ui-flow-node-group[id="${id}"]`;

/** Opens the editor and waits until it is usable (palette loaded with our nodes, comms connected). */
async function openEditor(page, url) {
  for (let attempt = 1; ; attempt++) {
    try {
      await page.goto(url, { waitUntil: 'domcontentloaded', timeout: 60000 });
      await page.waitForSelector('.red-ui-palette-node[data-palette-type="openwhisk-action"]', { state: 'attached', timeout: 60000 });
      await page.waitForFunction(
        () =>
          window.RED &&
          RED.nodes &&
          RED.nodes.getType('openwhisk-action') &&
          RED.workspaces.active() &&
          document.getElementById(RED.workspaces.active()) !== undefined &&
          document.querySelector('#red-ui-workspace-chart svg'),
        null,
        { timeout: 60000 },
      );
      return;
    } catch (err) {
      // Chromium aborts loads with ERR_NETWORK_CHANGED when Docker adds or removes a network interface.
      if (attempt >= 3) throw err;
    }
  }
}

/** The ids of the workspace's nodes of a type (in creation order). */
function nodeIds(page, type) {
  return page.evaluate((type) => {
    const ids = [];
    RED.nodes.eachNode((n) => {
      if (n.type === type && n.z === RED.workspaces.active()) ids.push(n.id);
    });
    return ids;
  }, type);
}

function configIds(page, type) {
  return page.evaluate((type) => {
    const ids = [];
    RED.nodes.eachConfig((n) => {
      if (n.type === type) ids.push(n.id);
    });
    return ids;
  }, type);
}

/** Types a filter into the palette search box and waits until the node is visible in the palette. */
async function filterPalette(page, text, type) {
  const input = page.locator('#red-ui-palette-search input');
  await input.click();
  await input.fill('');
  await input.pressSequentially(text, { delay: 20 });
  const item = page.locator(`.red-ui-palette-node[data-palette-type="${type}"]`);
  await item.waitFor({ state: 'visible' });
  // The filter hides the other nodes (searchBox applies it after a short delay).
  await page.waitForFunction(() => {
    const shown = [.../** @type {NodeListOf<HTMLElement>} */ (document.querySelectorAll('#red-ui-palette .red-ui-palette-node'))].filter(
      (e) => e.offsetParent !== null,
    );
    return shown.length > 0 && shown.every((e) => /openwhisk/i.test(e.getAttribute('data-palette-type') + ' ' + e.getAttribute('data-palette-label')));
  });
  await item.scrollIntoViewIfNeeded();
  return item;
}

/** Drags a node from the palette onto the workspace at (x, y) relative to the chart; resolves with the new node's id. */
/** @returns {Promise<string>} */
async function dragFromPalette(page, type, x, y) {
  const before = new Set(await nodeIds(page, type));
  const item = page.locator(`.red-ui-palette-node[data-palette-type="${type}"]`);
  await item.scrollIntoViewIfNeeded();
  const from = await item.boundingBox();
  const chart = await page.locator('#red-ui-workspace-chart').boundingBox();
  await page.mouse.move(from.x + from.width / 2, from.y + from.height / 2);
  await page.mouse.down();
  await page.mouse.move(from.x + from.width / 2 + 60, from.y + from.height / 2, { steps: 5 });
  await page.mouse.move(chart.x + x, chart.y + y, { steps: 15 });
  await page.mouse.up();
  /** @type {string} */
  let added;
  await page
    .waitForFunction(
      ({ type, before }) => {
        const ids = [];
        RED.nodes.eachNode((n) => {
          if (n.type === type && !before.includes(n.id)) ids.push(n.id);
        });
        return ids.length === 1 && ids[0];
      },
      { type, before: [...before] },
    )
    .then(async (h) => (added = await h.jsonValue()));
  await page.locator(NODE(added)).waitFor();
  return added;
}

/** Imports flow JSON through the import dialog (Ctrl+I) and drops it on the workspace at (x, y). */
async function importFlow(page, nodes, x, y) {
  const chart = page.locator('#red-ui-workspace-chart');
  // The editor's own action (what Ctrl+I runs): a click to focus the workspace first was once taken by
  // the editor shade as it closed after the previous step.
  await page.evaluate(() => RED.actions.invoke('core:show-import-dialog'));
  const text = page.locator('#red-ui-clipboard-dialog-import-text');
  await text.waitFor({ state: 'visible' });
  await text.fill(JSON.stringify(nodes));
  await text.press('End'); // the dialog validates on keyup
  await page.locator('#red-ui-clipboard-dialog-ok:not([disabled])').click();
  await text.waitFor({ state: 'hidden' });
  const box = await chart.boundingBox();
  await page.mouse.move(box.x + x - 20, box.y + y - 20);
  await page.mouse.move(box.x + x, box.y + y, { steps: 5 });
  await page.mouse.click(box.x + x, box.y + y);
  await page.waitForFunction(
    (ids) => ids.every((id) => document.getElementById(id)),
    nodes.filter((n) => n.x !== undefined).map((n) => n.id),
  );
}

async function portCenter(page, id, kind) {
  const b = await page.locator(`${NODE(id)} g.red-ui-flow-port-${kind} rect.red-ui-flow-port`).boundingBox();
  return { x: b.x + b.width / 2, y: b.y + b.height / 2 };
}

/** Draws a wire with the mouse from a node's output port to another node's input port. */
async function wire(page, from, to) {
  const a = await portCenter(page, from, 'output');
  const b = await portCenter(page, to, 'input');
  await page.mouse.move(a.x, a.y);
  await page.mouse.down();
  await page.mouse.move((a.x + b.x) / 2, (a.y + b.y) / 2, { steps: 10 });
  await page.mouse.move(b.x, b.y, { steps: 10 });
  await page.mouse.up();
  await page.waitForFunction(
    ({ from, to }) => {
      let found = false;
      RED.nodes.eachLink((l) => {
        if (l.source.id === from && l.target.id === to) found = true;
      });
      return found;
    },
    { from, to },
  );
}

/** Opens a node's edit tray by double-clicking it. */
async function openNode(page, id) {
  await page.locator(`${NODE(id)} rect.red-ui-flow-node`).dblclick();
  await page.locator('#node-dialog-ok').waitFor({ state: 'visible' });
  // oneditprepare has run once the tray's form is filled in
  await page.waitForFunction(() => document.querySelector('#dialog-form') && !document.querySelector('.red-ui-tray.red-ui-tray-opening'));
}

async function closeNode(page, button = 'ok') {
  await page.locator(`#node-dialog-${button}`).click();
  await page.locator('#node-dialog-ok').waitFor({ state: 'detached' });
}

/** Clicks the add (+) or edit (pencil) button next to a config-node select; waits for the config tray (a field in it). */
async function openConfig(page, prefix, property, action, field) {
  await page.locator(`#${prefix}-btn-${property}-${action}:not(.disabled)`).click();
  await page.locator(field).waitFor({ state: 'visible' });
}

/** Clicks Add/Update in the config tray; waits for the tray underneath (one of its fields). */
async function closeConfig(page, parentField, button = 'ok') {
  await page.locator(`#node-config-dialog-${button}`).click();
  await page.locator(parentField).waitFor({ state: 'visible' });
}

/** The fields the open config tray shows (ids without the node-config-input- prefix), in form order. */
function visibleFields(page) {
  return page.evaluate(() =>
    [.../** @type {NodeListOf<HTMLInputElement>} */ (document.querySelectorAll('#node-config-dialog-edit-form [id^="node-config-input-"]'))]
      .filter((e) => /^(INPUT|SELECT|TEXTAREA)$/.test(e.tagName) && e.type !== 'hidden' && !/-btn-/.test(e.id))
      .filter((e) => {
        const row = /** @type {HTMLElement} */ (e.closest('.form-row'));
        return row && row.offsetParent !== null && getComputedStyle(row).display !== 'none';
      })
      .map((e) => e.id.replace(/^node-config-input-/, '')),
  );
}

/** Cancels every open edit tray (after a failed step), innermost first. */
async function closeTrays(page) {
  for (let i = 0; i < 5; i++) {
    const cancel = page.locator('#node-config-dialog-cancel, #node-dialog-cancel').locator('visible=true');
    if (!(await cancel.count())) return;
    await cancel.first().click();
    await settle(page);
  }
}

/**
 * Clicks Deploy and waits until the editor has no undeployed changes. A deploy that got no response
 * (Chromium drops requests with ERR_NETWORK_CHANGED when Docker adds a network interface) is clicked again.
 */
async function deploy(page) {
  for (let attempt = 1; ; attempt++) {
    await page.evaluate(() => document.querySelectorAll('.red-ui-notification').forEach((n) => n.classList.add('leon-seen')));
    await page.locator('#red-ui-header-button-deploy').click();
    const outcome = await page.waitForFunction(
      () => {
        const confirm = /** @type {HTMLElement} */ (document.querySelector('#red-ui-deploy-dialog-confirm-deploy-deploy'));
        if (confirm && confirm.offsetParent !== null)
          return `the editor asks to confirm the deploy: ${/** @type {HTMLElement} */ (confirm.closest('.red-ui-notification')).innerText}`;
        const failed = [...document.querySelectorAll('.red-ui-notification-error:not(.leon-seen)')].find((n) => /Deploy failed/.test(n.textContent));
        if (failed) return `failed: ${failed.textContent}`;
        return !RED.nodes.dirty() && 'deployed';
      },
      null,
      { timeout: 60000 },
    );
    const result = await outcome.jsonValue();
    if (result === 'deployed') return;
    if (/^failed: .*no response/.test(result) && attempt < 3) continue;
    throw new Error(result);
  }
}

/** Waits until the edit trays stop moving (they slide in and out), for steady screenshots. */
async function settle(page) {
  await page.evaluate(
    () =>
      new Promise((resolve) => {
        let last = '';
        let same = 0;
        const start = performance.now();
        const tick = () => {
          const now = [...document.querySelectorAll('.red-ui-tray')].map((t) => JSON.stringify(t.getBoundingClientRect())).join('|');
          same = now === last ? same + 1 : 0;
          last = now;
          if (same >= 5 || performance.now() - start > 5000) resolve();
          else requestAnimationFrame(tick);
        };
        requestAnimationFrame(tick);
      }),
  );
}

async function waitNotificationsGone(page) {
  await page
    .waitForFunction(
      () => ![.../** @type {NodeListOf<HTMLElement>} */ (document.querySelectorAll('.red-ui-notification'))].some((n) => n.offsetParent !== null),
      null,
      { timeout: 15000 },
    )
    .catch(() => {});
}

/** What the user reads under a node: {text, cls} of its status (cls e.g. red-ui-flow-node-status-dot-green). */
function status(page, id) {
  return page.evaluate((sel) => {
    const g = document.querySelector(sel);
    const group = g && g.querySelector('.red-ui-flow-node-status-group');
    if (!group || group.style.display === 'none') return { text: '', cls: '' };
    const shape = group.querySelector('rect.red-ui-flow-node-status');
    const cls = ((shape && shape.getAttribute('class')) || '').split(/\s+/).find((c) => /^red-ui-flow-node-status-/.test(c)) || '';
    return { text: group.querySelector('text.red-ui-flow-node-status-label').textContent, cls };
  }, NODE(id));
}

async function waitStatus(page, id, re, timeout = 120000) {
  await page
    .waitForFunction(
      ({ sel, src }) => {
        const t = document.querySelector(`${sel} text.red-ui-flow-node-status-label`);
        return t && new RegExp(src).test(t.textContent);
      },
      { sel: NODE(id), src: re.source },
      { timeout },
    )
    .catch(async (err) => {
      throw new Error(`status of ${id} never matched ${re}: last ${JSON.stringify(await status(page, id))} (${err.message.split('\n')[0]})`);
    });
  return status(page, id);
}

/**
 * Records every status the editor receives and shows: the status texts written into the workspace SVG
 * (a MutationObserver sees each one, even those replaced within the same millisecond), and the status
 * messages from the runtime with their fill and shape. Returns {reset(), svg(id), comms(id)}.
 */
async function recordStatuses(page) {
  await page.evaluate(() => {
    if (window.__leonStatus) return;
    const rec = (window.__leonStatus = { svg: [], comms: [] });
    new MutationObserver((muts) => {
      for (const m of muts) {
        const label = /** @type {Element} */ (m.target);
        if (!label.classList || !label.classList.contains('red-ui-flow-node-status-label')) continue;
        const g = label.closest('g.red-ui-flow-node-group');
        for (const n of m.addedNodes) rec.svg.push({ id: g && g.id, text: /** @type {CharacterData} */ (n).data ?? n.textContent });
        if (m.addedNodes.length === 0 && label.childNodes.length === 0) rec.svg.push({ id: g && g.id, text: '' });
      }
    }).observe(document.getElementById('red-ui-workspace-chart'), { childList: true, subtree: true });
    RED.comms.subscribe('status/#', (topic, msg) =>
      rec.comms.push({ id: topic.split('/')[1], fill: msg && msg.fill, shape: msg && msg.shape, text: msg && msg.text }),
    );
  });
  return {
    reset: () =>
      page.evaluate(() => {
        window.__leonStatus.svg = [];
        window.__leonStatus.comms = [];
      }),
    svg: (id) => page.evaluate((id) => window.__leonStatus.svg.filter((s) => s.id === id).map((s) => s.text), id),
    comms: (id) => page.evaluate((id) => window.__leonStatus.comms.filter((s) => s.id === id), id),
  };
}

/**
 * The validation message of a dialog field, as the user gets it: null when the field is not marked
 * invalid (class input-error), otherwise the text of the tooltip shown on hovering it.
 */
async function fieldError(page, selector) {
  const input = page.locator(selector);
  // The editor re-validates on change events, some of them deferred (a config select is refreshed
  // ~50 ms after its tray closes): wait until the field's state has been the same for 500 ms.
  const token = `${selector}#${Date.now()}#${Math.random()}`;
  await page.waitForFunction(
    ({ sel, token }) => {
      const el = document.querySelector(sel);
      const now = `${el && el.classList.contains('input-error')}`;
      const w = (window.__leonFieldState = window.__leonFieldState || {});
      if (!w[token] || w[token].v !== now) w[token] = { v: now, t: Date.now() };
      return Date.now() - w[token].t >= 500;
    },
    { sel: selector, token },
    { polling: 100 },
  );
  if (!/\binput-error\b/.test((await input.getAttribute('class')) || '')) return null;
  // A tooltip still showing from an earlier hover (e.g. the tray's title) is not this field's message.
  await page.evaluate(() => {
    for (const e of /** @type {NodeListOf<HTMLElement>} */ (document.querySelectorAll('.red-ui-popover')))
      if (e.offsetParent !== null) e.setAttribute('data-leon-stale', '1');
  });
  await input.hover();
  const tip = await page.waitForFunction(
    () => {
      const p = [.../** @type {NodeListOf<HTMLElement>} */ (document.querySelectorAll('.red-ui-popover'))].find(
        (e) => e.offsetParent !== null && !e.hasAttribute('data-leon-stale') && e.textContent.trim(),
      );
      return p && p.textContent.trim();
    },
    null,
    { timeout: 10000 },
  );
  const text = await tip.jsonValue();
  await page.locator('.red-ui-tray-titlebar').last().hover();
  await page
    .waitForFunction(
      () => ![.../** @type {NodeListOf<HTMLElement>} */ (document.querySelectorAll('.red-ui-popover'))].some((e) => e.offsetParent !== null),
      null,
      { timeout: 10000 },
    )
    .catch(() => {});
  return text;
}

/** Fills a field and leaves it (Tab), so that the editor validates it. */
async function fillField(page, selector, value) {
  await page.locator(selector).fill(value);
  await page.locator(selector).press('Tab');
}

/**
 * Waits until the action dialog's status line (under the Action field) matches re; resolves with its text.
 * A lookup that failed in transport ("Cannot list actions: error", a request Chromium dropped) is refreshed.
 */
async function waitActionStatus(page, re, timeout = 30000) {
  for (let attempt = 1; ; attempt++) {
    const h = await page.waitForFunction(
      (src) => {
        const t = document.querySelector('#leon-ow-action-status').textContent;
        if (new RegExp(src).test(t)) return { ok: true, t };
        return /^Cannot list actions: (error|timeout)$/.test(t) && { ok: false, t };
      },
      re.source,
      { timeout },
    );
    const { ok, t } = await h.jsonValue();
    if (ok) return t;
    if (attempt >= 3) throw new Error(`the action list failed: ${t}`);
    await page.locator('#leon-ow-refresh').click();
  }
}

/** Clicks an inject node's button. */
async function clickInject(page, id) {
  await page.locator(`${NODE(id)} .red-ui-flow-node-button-button`).click();
}

/** Shows a sidebar tab: Node-RED 5 has a tab bar of buttons, 4.1 a tab strip. */
async function showSidebar(page, tab) {
  const v5 = page.locator(`.red-ui-sidebar-tab-bar button[data-tab-id="${tab}"]`);
  if (await v5.count()) {
    if (!(await v5.first().evaluate((b) => b.classList.contains('selected')))) await v5.first().click();
  } else {
    const strip = page.locator(`#red-ui-tab-${tab} a.red-ui-tab-label, #red-ui-tab-${tab}-link-button`);
    await strip.locator('visible=true').first().click();
  }
  const content = { debug: '.red-ui-debug-content', help: '.red-ui-help', info: '.red-ui-sidebar-info' }[tab];
  if (content) await page.locator(`${content} >> visible=true`).first().waitFor({ state: 'visible' });
}

/** Node-RED 5 stacks sidebar sections: hides one (its tab-bar button toggles it) to give the others room. */
async function hideSidebarSection(page, tab) {
  const v5 = page.locator(`.red-ui-sidebar-tab-bar button[data-tab-id="${tab}"].selected`);
  if (await v5.count()) {
    await v5.first().click();
    await page.locator(`.red-ui-sidebar-tab-bar button[data-tab-id="${tab}"]:not(.selected)`).first().waitFor();
  }
}

/** The help panel the user sees (Node-RED 5 and 4.1 both have one visible .red-ui-help). */
const HELP = () => [.../** @type {NodeListOf<HTMLElement>} */ (document.querySelectorAll('.red-ui-help'))].find((e) => e.offsetParent !== null);

/** Waits until the help panel shows a topic titled `title`. */
async function waitHelp(page, title) {
  await page.waitForFunction(
    ({ help, title }) => {
      const el = new Function(`return (${help})()`)();
      const h = el && el.querySelector('h1, h2');
      return h && h.textContent.trim() === title;
    },
    { help: HELP.toString(), title },
  );
}

/** Clicks a node in the help sidebar's table of contents (expanding this module's entry if needed). */
async function openHelpTopic(page, label) {
  const toc = page.locator('.red-ui-sidebar-help-toc').locator('visible=true').first();
  const exact = (t) => new RegExp(`^\\s*${t.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}\\s*$`);
  const item = toc
    .locator('.red-ui-treeList-label .red-ui-node-label')
    .filter({ hasText: exact(label) })
    .first();
  if (!(await item.isVisible())) {
    const module = toc
      .locator('.red-ui-treeList-label')
      .filter({ has: page.locator('.red-ui-treeList-label-text').filter({ hasText: exact('@leon-edge/node-red-openwhisk') }) });
    await module.first().locator('.red-ui-treeList-icon').first().click();
  }
  await item.scrollIntoViewIfNeeded();
  await item.click();
  await waitHelp(page, label);
}

/**
 * The visible help: {title, headings (h3), lists (the <dt> names of each property list), text, stray}. stray is a
 * line of Node-RED's markdown property syntax (": name (type) : ...") that was left as text, or null.
 */
function helpContent(page) {
  return page.evaluate((help) => {
    const el = new Function(`return (${help})()`)();
    const text = el.textContent.replace(/\s+/g, ' ');
    const stray = [...el.querySelectorAll('p, li')].map((p) => p.textContent).find((t) => /(^|[.;]\s+|\n): \*?[\w ]+\*? \([^)]*\) :/.test(t)) || null;
    return {
      title: (el.querySelector('h1, h2') || {}).textContent,
      headings: [...el.querySelectorAll('h3')].map((h) => h.textContent.trim()),
      lists: [...el.querySelectorAll('dl.message-properties')].map((dl) => [...dl.querySelectorAll('dt')].map((dt) => dt.firstChild.textContent.trim())),
      text,
      stray,
    };
  }, HELP.toString());
}

/** The debug sidebar's messages: [{name, topic, payload}] (payload = the text the user reads). */
function debugMessages(page) {
  return page.evaluate(() =>
    [...document.querySelectorAll('.red-ui-debug-content .red-ui-debug-msg')].map((m) => ({
      name: (m.querySelector('.red-ui-debug-msg-name') || {}).textContent || '',
      topic: (m.querySelector('.red-ui-debug-msg-topic') || {}).textContent || '',
      payload: ((m.querySelector('.red-ui-debug-msg-payload') || {}).textContent || '').replace(/\s+/g, ' ').trim(),
      error: m.classList.contains('red-ui-debug-msg-level-20'),
    })),
  );
}

async function waitDebugCount(page, n, timeout = 60000) {
  await page.waitForFunction((n) => document.querySelectorAll('.red-ui-debug-content .red-ui-debug-msg').length >= n, n, { timeout });
  return debugMessages(page);
}

/** Expands a debug message (a click on its top-level row) and resolves with its full text. */
async function expandDebugMessage(page, index) {
  const msg = page.locator('.red-ui-debug-content .red-ui-debug-msg').nth(index);
  await msg.locator('.red-ui-debug-msg-top-level > .red-ui-debug-msg-expandable').first().click();
  await msg.locator('.red-ui-debug-msg-top-level:not(.collapsed)').first().waitFor();
  return (await msg.textContent()).replace(/\s+/g, ' ');
}

/** The label the workspace shows on a node. */
function nodeLabel(page, id) {
  return page.locator(`${NODE(id)} text.red-ui-flow-node-label-text`).textContent();
}

module.exports = {
  NODE,
  openEditor,
  nodeIds,
  configIds,
  filterPalette,
  dragFromPalette,
  importFlow,
  wire,
  openNode,
  closeNode,
  openConfig,
  closeConfig,
  closeTrays,
  visibleFields,
  deploy,
  settle,
  waitNotificationsGone,
  fieldError,
  fillField,
  waitActionStatus,
  status,
  waitStatus,
  recordStatuses,
  clickInject,
  showSidebar,
  hideSidebarSection,
  waitHelp,
  openHelpTopic,
  helpContent,
  debugMessages,
  waitDebugCount,
  expandDebugMessage,
  nodeLabel,
};
