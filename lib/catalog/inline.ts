// A catalog of one: the action written in an openwhisk-action node. The engine provisions it as it
// provisions any catalog's action (same pools, stem cells and bounds); images come from the runtime's
// own catalog (its runtimes manifest), when it has one.

import { OpenWhiskNodeError } from '../errors';
import { qualifiedName } from '../names';
import type { ActionDoc, ActionRef, Catalog } from '../types';

export class InlineCatalog implements Catalog {
  readonly location: string;

  constructor(
    private readonly ref: ActionRef,
    private doc: ActionDoc,
    /** The runtime's catalog, asked only for its kind → image table. */
    private readonly images?: Pick<Catalog, 'runtimeImages'>,
  ) {
    this.location = `the openwhisk-action node (inline action '${qualifiedName(ref)}')`;
  }

  /** The document after a deploy to a service (its version). */
  update(doc: ActionDoc): void {
    this.doc = doc;
  }

  async getAction(ref: ActionRef): Promise<ActionDoc> {
    if (qualifiedName(ref) !== qualifiedName(this.ref)) {
      throw new OpenWhiskNodeError(
        'config',
        `The openwhisk-action node runs its own inline action '${qualifiedName(this.ref)}', not '${qualifiedName(ref)}': ` +
          'choose "from the catalog" in the node to run other actions (msg.action is ignored by an inline action).',
        { short: 'not inline' },
      );
    }
    return structuredClone(this.doc);
  }

  async runtimeImages(): Promise<Record<string, string>> {
    if (!this.images) return {};
    try {
      return await this.images.runtimeImages();
    } catch {
      // A hint only: the engine falls back to this package's images and its built-in table.
      return {};
    }
  }
}
