// What a page function (page.evaluate, waitForFunction) sees in Node-RED's editor besides the DOM: the
// editor's RED as far as the tests use it, and what the tests' own page functions leave on window.
// (@types/node-red__editor-client types nodes as `object` and the active workspace as an object: not
// what the editor hands out.)

/** A node in the editor: its id, type and flow (z), and its properties, which differ by type. */
interface EditorNode {
  id: string;
  type: string;
  z?: string;
  valid?: boolean;
  [property: string]: unknown;
}

declare const RED: {
  nodes: {
    node(id: string): EditorNode;
    eachNode(cb: (n: EditorNode) => boolean | void): void;
    eachConfig(cb: (n: EditorNode) => boolean | void): void;
    eachLink(cb: (l: { source: EditorNode; target: EditorNode }) => boolean | void): void;
    getType(type: string): unknown;
    dirty(): boolean;
  };
  workspaces: { active(): string; show(id: string): void };
  editor: { getEditStack(): { codeEditor?: { getValue(): string; setValue(text: string): void } }[] };
  sidebar: { show(id: string): void };
  actions: { invoke(name: string): void };
  comms: { subscribe(topic: string, cb: (topic: string, msg: { id?: string; [key: string]: unknown }) => void): void };
};

interface Window {
  RED?: typeof RED;
  /** Status texts recorded by the editor helper (the flow's SVG labels and the comms messages). */
  __leonStatus?: { svg: { id: string; text: string }[]; comms: { id?: string; [key: string]: unknown }[] };
  /** Field states recorded by the editor helper. */
  __leonFieldState?: Record<string, unknown>;
}
