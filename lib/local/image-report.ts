// What the runtime dialog shows about images: for each kind in use, the image it resolves to (images.ts
// order, with the runtime's overrides), whether the Docker engine has it for the runtime's platform
// (inspected only: nothing is pulled), and the command that builds it. No Node-RED in here.

import type Docker from 'dockerode';
import { bounded, engineQueries, normaliseArch, translateDockerError, type DockerTarget } from './docker';
import { NOT_BUILT, PACKAGE_RUNTIMES, familyOf, resolveImage, type ImageSource } from './images';
import { ImageChooser } from './provision';
import type { Catalog } from '../types';

/** No runtimes list of a service here: the dialog reports the images without asking the catalog. */
const NO_CATALOG = { location: 'the runtime dialog', runtimeImages: async () => ({}) } as unknown as Catalog;

export interface KindImage {
  kind: string;
  /** The image the kind resolves to; undefined when none is known (then `error` says why). */
  image?: string;
  source?: ImageSource;
  /** present; missing (not on the engine); wrong-platform (built for another one); unknown (not asked: engine unreachable, no image). */
  state: 'present' | 'missing' | 'wrong-platform' | 'unknown';
  /** "os/arch[/variant]" the image is built for, when inspected. */
  imagePlatform?: string;
  /** What builds it (a shell command) or what to write (an override line). */
  build?: string;
  error?: string;
}

export interface ImageReport {
  /** The Docker engine's own platform ("linux/amd64"); undefined when it could not be reached. */
  enginePlatform?: string;
  /** The platform images must be built for: the runtime's, else the engine's. */
  platform?: string;
  kinds: KindImage[];
  /** Why the engine could not be asked. */
  engineError?: string;
}

const BOUND_MS = 5000;
/** Kinds reported at most (a dialog, not a catalog dump). */
export const MAX_KINDS = 32;

/** This package's images and the script that builds each (the repository's runtimes/). */
const BUILT_HERE: { image: RegExp; script: string }[] = [
  { image: /^leon-edge\/(action-nodejs-v22|action-nodejs-v20|action-python-v3\.11|blackbox-echo)(:|$)/, script: 'bash runtimes/build.sh' },
  { image: /^leon-edge\/(face-detect|face-detect-native|face-identify)(:|$)/, script: 'bash runtimes/face-detection/build.sh' },
];

/** Our runtime image for a family, to suggest in an override line. */
const OUR_IMAGE: Record<string, string> = { nodejs: 'leon-edge/action-nodejs-v22', python: 'leon-edge/action-python-v3.11' };

/** The `:<arch>` tag build.sh gives an image built for another platform than the engine's. */
function archTag(platform: string): string {
  const [, arch, variant] = platform.split('/');
  return arch === 'arm' && variant === 'v7' ? 'armv7' : arch;
}

/** The exact command (or override line) that gets `image` for `kind` onto an engine of `enginePlatform`, built for `platform`. */
export function buildCommand(
  kind: string,
  image: string | undefined,
  platform: string | undefined,
  enginePlatform: string | undefined,
  source?: ImageSource,
): string | undefined {
  const cross = !!platform && !!enginePlatform && platform !== enginePlatform;
  const flag = cross ? ` --platform ${platform}` : '';
  if (image) {
    const ours = BUILT_HERE.find((b) => b.image.test(image));
    if (ours) return `${ours.script}${flag}`;
  }
  // A kind this package builds an image for: once built, the runtime takes it with no override (unless one names another image).
  const family = familyOf(kind);
  const isDefault = kind === family || kind === `${family}:default`;
  const target = platform ?? enginePlatform;
  const why = target ? NOT_BUILT[kind]?.[archTag(target)] : undefined;
  if (source !== 'override' && why) return `nothing builds it here: ${why}; use ${family}:default, or an override line ${kind}=<an image you have>`;
  if (source !== 'override' && (PACKAGE_RUNTIMES[kind] !== undefined || (isDefault && Object.keys(PACKAGE_RUNTIMES).some((k) => familyOf(k) === family)))) {
    return `bash runtimes/build.sh${flag}`;
  }
  const mine = OUR_IMAGE[family];
  if (mine) {
    // Not one of ours (e.g. openwhisk/… from the built-in table, amd64 only and from a registry): build ours and point the kind at it.
    const tag = cross ? archTag(platform) : 'latest';
    return `bash runtimes/build.sh${flag}   then the override line  ${family}:*=${mine}:${tag}`;
  }
  return image ? `docker build -t ${image} …  (or docker load), or an override line ${kind}=<an image you have>` : undefined;
}

/**
 * Resolves and inspects the images of `kinds`. `platform`: the runtime's field ('' = the engine's own).
 * Never throws: an engine that cannot be reached is reported in engineError, each kind as 'unknown'.
 */
export async function reportImages(
  docker: Docker,
  target: DockerTarget,
  kinds: string[],
  overrides: Record<string, string>,
  platform: string | undefined,
): Promise<ImageReport> {
  let enginePlatform: string | undefined;
  let engineError: string | undefined;
  try {
    const v = await bounded((abortSignal) => engineQueries(docker).version({ abortSignal }), BOUND_MS, target, 'connecting');
    enginePlatform = `${String(v.Os ?? 'linux').toLowerCase()}/${normaliseArch(String(v.Arch ?? ''))}`;
  } catch (err) {
    engineError = translateDockerError(err, target, 'connecting').message;
  }
  const want = platform || enginePlatform;
  const unique = [...new Set(kinds.filter((k) => typeof k === 'string' && k && k !== 'sequence'))].slice(0, MAX_KINDS);
  const chooser = new ImageChooser(overrides);
  const out = await Promise.all(
    unique.map(async (kind): Promise<KindImage> => {
      let image: string | undefined;
      let source: ImageSource | undefined;
      try {
        ({ image, source } = resolveImage({ kind }, overrides));
        // As the runtime chooses (provision.ts): this package's image when the engine has it, before OpenWhisk's.
        if (!engineError && want) {
          const [os, arch] = want.split('/');
          const engine = { docker, target, platform: { os, arch }, hasReady: () => false, noteFailure: () => undefined };
          ({ image, source } = await chooser.choose({ namespace: '_', name: 'kind', exec: { kind } }, NO_CATALOG, engine));
        }
      } catch (err) {
        return { kind, state: 'unknown', error: (err as Error).message, build: buildCommand(kind, undefined, want, enginePlatform) };
      }
      const build = buildCommand(kind, image, want, enginePlatform, source);
      if (engineError) return { kind, image, source, state: 'unknown', build };
      let info: Docker.ImageInspectInfo | undefined;
      try {
        info = await bounded(() => docker.getImage(image).inspect(), BOUND_MS, target, `inspecting image '${image}'`);
      } catch (err) {
        if ((err as { statusCode?: number }).statusCode === 404) return { kind, image, source, state: 'missing', build };
        return { kind, image, source, state: 'unknown', build, error: translateDockerError(err, target, `inspecting image '${image}'`).message };
      }
      const os = String(info.Os ?? '').toLowerCase();
      const arch = normaliseArch(info.Architecture);
      const variant = (info as { Variant?: string }).Variant;
      const imagePlatform = [os || '?', arch || '?', ...(variant ? [variant] : [])].join('/');
      const [wos, warch] = (want ?? '').split('/');
      const fits = !want || ((!os || os === wos) && (!arch || arch === normaliseArch(warch)));
      return { kind, image, source, state: fits ? 'present' : 'wrong-platform', imagePlatform, build };
    }),
  );
  return { enginePlatform, platform: want, kinds: out, engineError };
}
