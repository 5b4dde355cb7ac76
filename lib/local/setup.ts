// The Docker work of a runtime's start and of its clean-up: connect (ping, platform, live-restore),
// the isolation network, and the sweeps that remove containers left behind (by an earlier run of
// the same Node-RED instance, or by this engine's own calls that completed after they timed out).

import dns from 'node:dns/promises';
import net from 'node:net';
import type Docker from 'dockerode';
import { OpenWhiskNodeError } from '../errors';
import { bounded, dockerStatus, translateDockerError, type DockerTarget, type EnginePlatform } from './docker';
import { ISOLATION_NETWORK, LABELS } from './options';

const PING_TIMEOUT_MS = 10000;

/** Ping, then the platform images must be built for (`platform` 'os/arch' overrides the engine's). */
export async function connect(docker: Docker, target: DockerTarget, platform: string | undefined): Promise<EnginePlatform> {
  await bounded(docker.ping(), PING_TIMEOUT_MS, target, 'connecting');
  const v = await bounded(docker.version(), PING_TIMEOUT_MS, target, 'connecting');
  const [os, arch] = (platform ?? '').split('/');
  return platform ? { os, arch: arch ?? '' } : { os: String(v.Os ?? 'linux'), arch: String(v.Arch ?? '') };
}

/** Whether the daemon runs with live-restore; undefined when it cannot be read. */
export async function readLiveRestore(docker: Docker, target: DockerTarget): Promise<boolean | undefined> {
  try {
    const info: { LiveRestoreEnabled?: unknown } = await bounded(docker.info(), PING_TIMEOUT_MS, target, 'reading the engine info');
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

/** The bridge network without inter-container traffic (ISOLATION_NETWORK), created on first use. */
export async function ensureIsolationNetwork(docker: Docker, target: DockerTarget): Promise<string> {
  const where = `creating Docker network '${ISOLATION_NETWORK}'`;
  try {
    const existing = await bounded(docker.listNetworks({ filters: { name: [ISOLATION_NETWORK] } }), PING_TIMEOUT_MS, target, where);
    const found = existing.find((n) => n.Name === ISOLATION_NETWORK);
    if (found) {
      if (found.Options?.['com.docker.network.bridge.enable_icc'] !== 'false') {
        throw new OpenWhiskNodeError(
          'docker',
          `Docker network '${ISOLATION_NETWORK}' on ${target.description} lets containers reach each other; it was not made by this package. ` +
            `Remove it (docker network rm ${ISOLATION_NETWORK}) so the runtime can create it with inter-container traffic off.`,
          { short: 'docker: network' },
        );
      }
      return ISOLATION_NETWORK;
    }
    await bounded(
      docker.createNetwork({
        Name: ISOLATION_NETWORK,
        Driver: 'bridge',
        CheckDuplicate: true,
        Options: { 'com.docker.network.bridge.enable_icc': 'false' },
        Labels: { [LABELS.managed]: 'true' },
      }),
      PING_TIMEOUT_MS,
      target,
      where,
    );
    return ISOLATION_NETWORK;
  } catch (err) {
    if (err instanceof OpenWhiskNodeError) throw err;
    if (dockerStatus(err) === 409) return ISOLATION_NETWORK; // another runtime created it meanwhile
    throw translateDockerError(err, target, where);
  }
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
      docker.listContainers({ all: true, filters: { label: [`${LABELS.managed}=true`, `${LABELS.instance}=${instanceId}`] } }),
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
      bounded(docker.getContainer(c.Id).remove({ force: true, v: true }), boundMs, target, 'removing a leftover container').catch((err: unknown) => {
        const s = dockerStatus(err);
        if (s !== 404 && s !== 409) throw translateDockerError(err, target, `removing leftover container ${c.Names?.[0] ?? c.Id}`);
      }),
    ),
  );
  return stale.length;
}

/** The containers Docker lists with this engine's label. */
export function listOwn(docker: Docker, engineId: string): Promise<Docker.ContainerInfo[]> {
  return docker.listContainers({ all: true, filters: { label: [`${LABELS.engine}=${engineId}`] } });
}

/** Remove every container with this engine's label (best effort): the last sweep at close. */
export async function removeOwn(docker: Docker, engineId: string): Promise<void> {
  const left = await listOwn(docker, engineId).catch((): Docker.ContainerInfo[] => []);
  await Promise.all(left.map((c) => docker.getContainer(c.Id).remove({ force: true, v: true }).catch(() => undefined)));
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
