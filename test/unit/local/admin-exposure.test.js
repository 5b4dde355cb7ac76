'use strict';
// When action containers could reach an admin API without a login (lib/local/admin-exposure.ts): pure.

const assert = require('node:assert/strict');
const { exposedAdmin } = require('../../../dist/lib/local/admin-exposure');

const login = { type: 'credentials', users: [{ username: 'admin', password: '$2b$08$x', permissions: '*' }] };

describe('local: is the admin API open to action containers (admin-exposure.ts)', () => {
  it("every interface (Node-RED's default uiHost, and any container) without adminAuth: open", () => {
    assert.equal(exposedAdmin({ uiHost: '0.0.0.0' }, undefined), '0.0.0.0');
    assert.equal(exposedAdmin({}, '::'), '::');
    assert.equal(exposedAdmin({ uiHost: '192.168.1.10' }, undefined), '192.168.1.10');
    assert.match(exposedAdmin({}, undefined), /no uiHost/);
  });

  it('loopback only, a login, or no admin API at all: closed', () => {
    for (const host of ['127.0.0.1', '::1', 'localhost', '[::1]', '::ffff:127.0.0.1']) assert.equal(exposedAdmin({}, host), undefined, host);
    assert.equal(exposedAdmin({ uiHost: '0.0.0.0' }, '127.0.0.1'), undefined, 'where the server is bound wins over the setting');
    assert.equal(exposedAdmin({ uiHost: '0.0.0.0', adminAuth: login }, undefined), undefined);
    assert.equal(exposedAdmin({ uiHost: '0.0.0.0', httpAdminRoot: false }, undefined), undefined);
    assert.equal(exposedAdmin({ uiHost: '0.0.0.0', adminAuth: { ...login, default: { permissions: 'read' } } }, undefined), undefined);
  });

  it('adminAuth whose default user (no login) may write is open', () => {
    for (const permissions of ['*', ['flows.write'], ['read', 'flows.write']]) {
      assert.equal(exposedAdmin({ uiHost: '0.0.0.0', adminAuth: { ...login, default: { permissions } } }, undefined), '0.0.0.0', JSON.stringify(permissions));
    }
    assert.equal(exposedAdmin({ uiHost: '0.0.0.0', adminAuth: { ...login, default: () => ({ anonymous: true, permissions: '*' }) } }, undefined), '0.0.0.0');
  });
});
