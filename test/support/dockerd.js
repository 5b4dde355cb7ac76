'use strict';
// Stopping and starting the local dockerd, for the fault tests and the soak benchmark. It is started
// again the way .ci/run starts it, `(dockerd … >>/tmp/ci-dockerd.log 2>&1 &)`, and — whatever
// happens — once more when the process exits between a stop and a start.
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const http = require('node:http');
const Docker = require('dockerode');

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const quote = (s) => `'${String(s).replace(/'/g, "'\\''")}'`;
const startCommand = (argv) => `(${argv.map(quote).join(' ')} >>/tmp/ci-dockerd.log 2>&1 &)`;

/** The one local dockerd: {pid, argv}, or {why} when it cannot be controlled from here. */
function findDockerd() {
  if (process.getuid && process.getuid() !== 0) return { why: 'not root: cannot stop and start dockerd' };
  if (process.env.DOCKER_HOST) return { why: `DOCKER_HOST=${process.env.DOCKER_HOST}: not the local dockerd` };
  let pids;
  try {
    pids = execFileSync('pgrep', ['-x', 'dockerd'], { encoding: 'utf8' }).trim().split('\n').filter(Boolean);
  } catch {
    return { why: 'no dockerd process on this machine (Docker Desktop, rootless or remote engine?)' };
  }
  if (pids.length !== 1) return { why: `${pids.length} dockerd processes: not sure which one to stop` };
  const pid = Number(pids[0]);
  return { pid, argv: fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean) };
}

class DockerdControl {
  constructor(socketPath = '/var/run/docker.sock') {
    // A fresh connection per call: a kept-alive one outlives a dying dockerd.
    // docker-modem reads `agent` (the types of Docker's options do not list it).
    this.fresh = new Docker(/** @type {Docker.DockerOptions} */ ({ socketPath, agent: new http.Agent({ keepAlive: false }) }));
    this.found = findDockerd(); // what was running at the start
    this.argv = this.found.argv; // what runs now (a test may add --live-restore)
    this.down = false;
    process.on('exit', () => {
      if (this.down && this.found.argv) {
        try {
          execFileSync('bash', ['-c', startCommand(this.found.argv)]);
        } catch {
          /* nothing more to do */
        }
      }
    });
  }

  async up() {
    try {
      await this.fresh.info();
      return true;
    } catch {
      return false;
    }
  }

  /** SIGTERM to dockerd; resolves (with the ms it took) once the process is gone. */
  async stop() {
    const { pid } = findDockerd();
    if (!pid) throw new Error('no dockerd to stop');
    this.down = true;
    process.kill(pid, 'SIGTERM');
    const t0 = Date.now();
    for (;;) {
      try {
        process.kill(pid, 0);
      } catch {
        return Date.now() - t0;
      }
      if (Date.now() - t0 > 60000) throw new Error('dockerd did not stop within 60 s');
      await sleep(50);
    }
  }

  /** Starts dockerd and waits for `docker info`; resolves with the ms it took. */
  async start(argv = this.found.argv) {
    execFileSync('bash', ['-c', startCommand(argv)]);
    this.argv = argv;
    const t0 = Date.now();
    while (!(await this.up())) {
      if (Date.now() - t0 > 60000) throw new Error('dockerd did not come back within 60 s (see /tmp/ci-dockerd.log)');
      await sleep(100);
    }
    this.down = false;
    return Date.now() - t0;
  }

  /** Whatever happened: dockerd running again, with the arguments it had at the start. */
  async restore() {
    if (!this.found.argv) return;
    if (this.argv && this.argv.join(' ') !== this.found.argv.join(' ') && (await this.up())) {
      await this.stop();
    }
    if (this.down || !(await this.up())) await this.start(this.found.argv);
  }
}

module.exports = { DockerdControl, findDockerd };
