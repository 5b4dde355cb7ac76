// The editor plugin behind the OpenWhisk sidebar tab (openwhisk-activations.html): admin endpoints that
// list the activations each runtime keeps (lib/activations/feed.ts) and show one, bounded in size, and
// the rows of new ones sent to the editors as they come (RED.comms, topic openwhisk/activations, at most
// 4 batches of 50 rows a second). Reads need the openwhisk-runtime.read permission and, like the other
// lookups, come from the editor's own page only (lib/editor-request.ts).
import type { NodeAPI } from 'node-red';
import type { Request, Response } from 'express';
import { feed, MAX_ROWS, type RowFilter } from '../lib/activations/feed';
import { editorOrigins, editorRequestProblem } from '../lib/editor-request';

interface PluginApi {
  plugins?: { registerPlugin?: (id: string, def: Record<string, unknown>) => void };
  comms?: { publish?: (topic: string, data: unknown, retain?: boolean) => void };
}

const text = (v: unknown, max = 200): string | undefined => (typeof v === 'string' && v.trim() ? v.trim().slice(0, max) : undefined);

export = function (RED: NodeAPI) {
  const api = RED as unknown as PluginApi;
  api.plugins?.registerPlugin?.('openwhisk-activations', { type: 'leon-openwhisk-sidebar' });
  const publish = api.comms?.publish;
  feed.setPublisher(publish ? (topic, data) => publish(topic, data, false) : undefined);

  /** Serves editors only: a page of another site gets 403 (GETs carry no body: no content-type check). */
  const refused = (req: Request, res: Response): boolean => {
    const problem = editorRequestProblem(req.headers, true, editorOrigins((RED.settings as unknown as Record<string, unknown>).openwhiskEditorOrigins));
    if (!problem) return false;
    res.status(problem.status).json({ error: problem.error, code: problem.code });
    return true;
  };

  // ?runtime=&node=&action=&status=&limit= (≤ 200): the runtimes, and their rows newest first.
  RED.httpAdmin.get('/leon-openwhisk/activations', RED.auth.needsPermission('openwhisk-runtime.read'), (req: Request, res: Response) => {
    if (refused(req, res)) return;
    const q = req.query as Record<string, unknown>;
    const f: RowFilter = { runtime: text(q.runtime), node: text(q.node), action: text(q.action), status: text(q.status, 40) };
    const limit = Math.min(MAX_ROWS, Math.max(1, Number(q.limit) || 100));
    res.set('Cache-Control', 'no-store');
    res.json({ runtimes: feed.list(), rows: feed.rows(f, limit) });
  });

  // One record: result, logs, parameters and annotations, each bounded (what was cut says so).
  RED.httpAdmin.get('/leon-openwhisk/activations/:runtime/:id', RED.auth.needsPermission('openwhisk-runtime.read'), (req: Request, res: Response) => {
    if (refused(req, res)) return;
    const d = feed.detail(String(req.params.runtime), String(req.params.id));
    res.set('Cache-Control', 'no-store');
    if (!d) {
      res.status(404).json({
        error:
          'No such activation in this runtime (it may have been dropped: the runtime keeps its latest ones only, and none after a redeploy unless it serves the OpenWhisk API).',
        code: 'not-found',
      });
      return;
    }
    res.json(d);
  });
};
