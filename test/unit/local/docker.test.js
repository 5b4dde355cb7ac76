'use strict';
// Docker address parsing and error translation of the local runtime (lib/local/docker.ts), no Docker.

const assert = require('node:assert/strict');
const { parseDockerTarget, translateDockerError, normaliseArch, dockerMessage } = require('../../../dist/lib/local/docker');
const { containerName } = require('../../../dist/lib/local/container');
const { OpenWhiskNodeError } = require('../../../dist/lib/errors');

const errno = (code, message) => Object.assign(new Error(message ?? `connect ${code} /var/run/docker.sock`), { code });

describe('local: Docker address and errors', () => {
  it('parses the Docker address setting', () => {
    assert.deepEqual(parseDockerTarget('', {}), {
      options: {},
      description: 'unix:///var/run/docker.sock (default)',
      socketPath: '/var/run/docker.sock',
    });
    const env = parseDockerTarget('', { DOCKER_HOST: 'tcp://10.0.0.5:2375' });
    assert.deepEqual(env.options, {}, 'docker-modem reads DOCKER_HOST itself');
    assert.equal(env.remoteHost, '10.0.0.5');
    assert.match(env.description, /tcp:\/\/10\.0\.0\.5:2375 \(DOCKER_HOST\)/);

    const sock = parseDockerTarget('unix:///run/user/1000/docker.sock', { DOCKER_HOST: 'tcp://x:1' });
    assert.equal(sock.options.socketPath, '/run/user/1000/docker.sock');
    assert.ok('host' in sock.options && sock.options.host === undefined, 'overrides a DOCKER_HOST host');
    assert.equal(sock.remoteHost, undefined);
    assert.equal(parseDockerTarget('/var/run/podman.sock', {}).options.socketPath, '/var/run/podman.sock');

    const tcp = parseDockerTarget('tcp://gateway.local:2375', {});
    assert.deepEqual({ ...tcp.options }, { host: 'gateway.local', port: 2375, protocol: 'http', socketPath: undefined });
    assert.equal(tcp.remoteHost, 'gateway.local');
    assert.equal(parseDockerTarget('http://127.0.0.1:2375', {}).remoteHost, undefined, 'loopback is local');
    assert.equal(parseDockerTarget('https://h:2376', {}).options.protocol, 'https');
    assert.equal(parseDockerTarget('tcp://h', {}).options.port, 2375);
    assert.equal(parseDockerTarget('ssh://me@h', {}).options.protocol, 'ssh');
    assert.throws(
      () => parseDockerTarget('ftp://h', {}),
      (e) => e instanceof OpenWhiskNodeError && e.code === 'config',
    );
  });

  it('daemon down / socket missing → unreachable, "Is dockerd running?"', () => {
    const t = parseDockerTarget('unix:///nope.sock', {});
    for (const code of ['ENOENT', 'ECONNREFUSED']) {
      const e = translateDockerError(errno(code), t, 'connecting');
      assert.equal(e.code, 'unreachable');
      assert.match(e.message, /^Cannot reach the Docker engine at unix:\/\/\/nope\.sock.*Is dockerd running\?/s);
    }
    assert.match(translateDockerError(errno('ENOENT'), t, 'x').message, /no socket at \/nope\.sock/);
  });

  it('permission denied on the socket → docker group advice', () => {
    const e = translateDockerError(errno('EACCES'), parseDockerTarget('', {}), 'connecting');
    assert.equal(e.code, 'docker');
    assert.match(e.message, /Permission denied.*'docker' group/s);
  });

  it('port conflict → clear message', () => {
    const err = Object.assign(new Error('(HTTP code 500) server error'), {
      statusCode: 500,
      json: { message: 'driver failed programming external connectivity: Bind for 127.0.0.1:8080 failed: port is already allocated' },
    });
    const e = translateDockerError(err, parseDockerTarget('', {}), 'starting a container');
    assert.equal(e.code, 'docker');
    assert.match(e.message, /Port conflict while starting a container: .*port is already allocated/);
    assert.equal(e.statusCode, 500);
  });

  it('other daemon errors keep the daemon message; OpenWhiskNodeErrors pass through', () => {
    const err = Object.assign(new Error('(HTTP code 404) no such image'), { statusCode: 404, json: { message: 'No such image: x:1' } });
    assert.equal(dockerMessage(err), 'No such image: x:1');
    const e = translateDockerError(err, parseDockerTarget('', {}), 'creating');
    assert.match(e.message, /failed while creating: No such image: x:1/);
    const own = new OpenWhiskNodeError('config', 'x');
    assert.equal(translateDockerError(own, parseDockerTarget('', {}), 'y'), own);
  });

  it('architecture names compare the way Docker names them', () => {
    assert.equal(normaliseArch('x86_64'), 'amd64');
    assert.equal(normaliseArch('aarch64'), 'arm64');
    assert.equal(normaliseArch('arm64'), 'arm64');
    assert.equal(normaliseArch('amd64'), 'amd64');
  });

  it('container names are sanitised', () => {
    assert.equal(containerName('a1b2.c3', 'guest/pkg/hello world', 3), 'leon_a1b2.c3_guest_pkg_hello_world_3');
    assert.match(containerName('n', 'ns/' + 'x'.repeat(200), 1), /^[A-Za-z0-9][A-Za-z0-9_.-]+$/);
    assert.ok(containerName('n', 'ns/' + 'x'.repeat(200), 1).length < 140);
  });
});
