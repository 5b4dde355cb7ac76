// The Docker work of a runtime's start and of its clean-up: connect (ping, platform, live-restore),
// the isolation network, and the sweeps that remove containers left behind (by an earlier run of
// the same Node-RED instance, or by this engine's own calls that completed after they timed out).

import dns from 'node:dns/promises';
import net from 'node:net';
import type Docker from 'dockerode';
import { OpenWhiskNodeError } from '../errors';
import { bounded, dockerStatus, engineQueries, translateDockerError, type DockerTarget, type EnginePlatform } from './docker';
import { ISOLATION_NETWORK, LABELS } from './options';

const PING_TIMEOUT_MS = 10000;

/** Ping, then the platform images must be built for (`platform` 'os/arch' overrides the engine's). */
export async function connect(docker: Docker, target: DockerTarget, platform: string | undefined): Promise<EnginePlatform> {
  await bounded((abortSignal) => engineQueries(docker).ping({ abortSignal }), PING_TIMEOUT_MS, target, 'connecting');
  const v = await bounded((abortSignal) => engineQueries(docker).version({ abortSignal }), PING_TIMEOUT_MS, target, 'connecting');
  const [os, arch] = (platform ?? '').split('/');
  return platform ? { os, arch: arch ?? '' } : { os: String(v.Os ?? 'linux'), arch: String(v.Arch ?? '') };
}

/** Whether the daemon runs with live-restore; undefined when it cannot be read. */
export async function readLiveRestore(docker: Docker, target: DockerTarget): Promise<boolean | undefined> {
  try {
    const info: { LiveRestoreEnabled?: unknown } = await bounded(
      (abortSignal) => engineQueries(docker).info({ abortSignal }),
      PING_TIMEOUT_MS,
      target,
      'reading the engine info',
    );
    return info.LiveRestoreEnabled === true;
  } catch {
    return undefined;
  }
}

/** A remote engine: the IPv4 address to publish on (and connect to) instead of its loopback. */
export async function remoteAddress(host: string): Promise<string> {
  const ip = net.isIP(host) ? host : (await dns.lookup(host, { family: 4 }).catch(() => ({ address: '' }))).address;
  if (!ip) {
    throw new OpenWhiskNodeError('unreachable', `Cannot resolve the Docker host '${host}' to an IPv4 address.`, { short: 'docker unreachable' });
  }
  return ip;
}

/**
 * The bridge network without inter-container traffic (ISOLATION_NETWORK), created on first use; its
 * id, which containers join (a name may be ambiguous). One creation in flight per engine in this
 * process; across processes (several Node-REDs on one engine), see reconcileIsolation().
 */
export function ensureIsolationNetwork(docker: Docker, target: DockerTarget): Promise<string> {
  let p = isolationInFlight.get(target.description);
  if (!p) {
    p = findOrCreateIsolation(docker, target).finally(() => isolationInFlight.delete(target.description));
    isolationInFlight.set(target.description, p);
  }
  return p;
}

const isolationInFlight = new Map<string, Promise<string>>();

async function findOrCreateIsolation(docker: Docker, target: DockerTarget): Promise<string> {
  const where = `creating Docker network '${ISOLATION_NETWORK}'`;
  const list = async () => {
    const all = await bounded((abortSignal) => docker.listNetworks({ filters: { name: [ISOLATION_NETWORK] }, abortSignal }), PING_TIMEOUT_MS, target, where);
    return all.filter((n) => n.Name === ISOLATION_NETWORK); // the name filter matches substrings
  };
  try {
    let found = await list();
    if (found.length === 0) {
      try {
        await bounded(
          (abortSignal) =>
            docker.createNetwork({
              Name: ISOLATION_NETWORK,
              Driver: 'bridge',
              CheckDuplicate: true,
              Options: { 'com.docker.network.bridge.enable_icc': 'false' },
              Labels: { [LABELS.managed]: 'true' },
              abortSignal,
            }),
          PING_TIMEOUT_MS,
          target,
          where,
        );
      } catch (err) {
        if (dockerStatus(err) !== 409) throw err; // 409: another process created it meanwhile
      }
      found = await list();
    }
    const { keep, extra } = reconcileIsolation(found);
    if (!keep) {
      throw new OpenWhiskNodeError(
        'docker',
        `Docker network '${ISOLATION_NETWORK}' on ${target.description} lets containers reach each other; it was not made by this package. ` +
          `Remove it (docker network rm ${ISOLATION_NETWORK}) so the runtime can create it with inter-container traffic off.`,
        { short: 'docker: network' },
      );
    }
    // Best effort: a duplicate another process still uses (its containers joined it by id) is refused
    // by the engine while it has endpoints, and goes at a later start.
    await Promise.all(
      extra.map((n) => bounded((abortSignal) => docker.getNetwork(n.Id).remove({ abortSignal }), PING_TIMEOUT_MS, target, where).catch(() => undefined)),
    );
    return keep.Id;
  } catch (err) {
    if (err instanceof OpenWhiskNodeError) throw err;
    throw translateDockerError(err, target, where);
  }
}

/** What reconcileIsolation() needs of a network as the engine lists it. */
export interface NetworkListing {
  Id: string;
  Name: string;
  Created?: string;
  Options?: Record<string, string>;
  Labels?: Record<string, string>;
}

/**
 * Engines before Docker 25 accept two networks with one name (CheckDuplicate is best effort), so
 * runtimes starting at once, in one process or several, may each create one. Every process keeps
 * the same one, by a rule they all agree on: the oldest (by the engine's creation time, to the
 * nanosecond), then the lowest id, among those with inter-container traffic off. `extra`: the
 * package's own other copies, to remove. No `keep`: the name belongs to a network not made by us.
 */
export function reconcileIsolation<T extends NetworkListing>(found: readonly T[]): { keep?: T; extra: T[] } {
  const isolated = found.filter((n) => n.Options?.['com.docker.network.bridge.enable_icc'] === 'false');
  isolated.sort((a, b) => compareCreated(a.Created ?? '', b.Created ?? '') || (a.Id < b.Id ? -1 : a.Id > b.Id ? 1 : 0));
  const [keep, ...rest] = isolated;
  return { keep, extra: rest.filter((n) => n.Labels?.[LABELS.managed] === 'true') };
}

/** Order two RFC 3339 times with up to nine fraction digits (Date.parse stops at milliseconds). */
function compareCreated(a: string, b: string): number {
  const split = (t: string): [number, string] => {
    const m = /^(.*?)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)?$/.exec(t) ?? ['', t, '', ''];
    const secs = Date.parse(`${m[1]}${m[3] ?? ''}`);
    return [Number.isNaN(secs) ? Infinity : secs, (m[2] ?? '').padEnd(9, '0')];
  };
  const [sa, fa] = split(a);
  const [sb, fb] = split(b);
  if (sa !== sb) return sa < sb ? -1 : 1;
  return fa < fb ? -1 : fa > fb ? 1 : 0;
}

/** Remove this instance's containers that no engine alive in this process owns. Returns how many. */
export async function sweepLeftovers(
  docker: Docker,
  target: DockerTarget,
  instanceId: string,
  alive: (engineId: string) => boolean,
  boundMs: number,
): Promise<number> {
  let list: Docker.ContainerInfo[];
  try {
    list = await bounded(
      (abortSignal) => docker.listContainers({ all: true, filters: { label: [`${LABELS.managed}=true`, `${LABELS.instance}=${instanceId}`] }, abortSignal }),
      boundMs,
      target,
      'listing leftover containers',
    );
  } catch (err) {
    throw translateDockerError(err, target, 'listing leftover containers');
  }
  const stale = list.filter((c) => c.Labels?.[LABELS.instance] === instanceId && !alive(c.Labels?.[LABELS.engine] ?? ''));
  await Promise.all(
    stale.map((c) =>
      bounded((abortSignal) => docker.getContainer(c.Id).remove({ force: true, v: true, abortSignal }), boundMs, target, 'removing a leftover container').catch(
        (err: unknown) => {
          const s = dockerStatus(err);
          if (s !== 404 && s !== 409) throw translateDockerError(err, target, `removing leftover container ${c.Names?.[0] ?? c.Id}`);
        },
      ),
    ),
  );
  return stale.length;
}

/** The containers Docker lists with this engine's label. */
export function listOwn(docker: Docker, engineId: string, abortSignal?: AbortSignal): Promise<Docker.ContainerInfo[]> {
  return docker.listContainers({ all: true, filters: { label: [`${LABELS.engine}=${engineId}`] }, abortSignal });
}

/** Remove every container with this engine's label (best effort): the last sweep at close. */
export async function removeOwn(docker: Docker, engineId: string): Promise<void> {
  const left = await listOwn(docker, engineId).catch((): Docker.ContainerInfo[] => []);
  await Promise.all(
    left.map((c) =>
      docker
        .getContainer(c.Id)
        .remove({ force: true, v: true })
        .catch(() => undefined),
    ),
  );
}

/** How containers are reached, learnt at start (engine.ts; DockerContext in container.ts). */
export interface ReachSettings {
  readonly network: string;
  liveRestore: boolean;
  publishIp: string;
  connectHost: string;
  isolationNetwork: string;
}

/**
 * Learn the daemon's live-restore setting, the address of a remote engine's host (its published
 * ports are reached there), and, with no network of the user's, the isolation network (created if missing).
 */
export async function learnReach(docker: Docker, target: DockerTarget, reach: ReachSettings): Promise<void> {
  reach.liveRestore = (await readLiveRestore(docker, target)) ?? reach.liveRestore;
  if (target.remoteHost && !reach.network) reach.publishIp = reach.connectHost = await remoteAddress(target.remoteHost);
  if (!reach.network) reach.isolationNetwork = await ensureIsolationNetwork(docker, target);
}
