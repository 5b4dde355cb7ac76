// Settings a node type reads from settings.js. Node-RED's convention: a type registers its settings
// (RED.nodes.registerType(type, ctor, { settings })) under names that begin with the type in camelCase
// (openwhisk-service → openwhiskService…). Settings read before under other names still work: the
// registered name is read first, the earlier one only when it is not set, and a Node-RED that still
// uses an earlier name says so once, when the type registers, naming the setting to use instead.

/** What registerType's `settings` option takes: each setting's default and whether the editor sees it. */
export type NodeSettingsDef = Record<string, { value: unknown; exportable: boolean }>;

interface Logger {
  warn(msg: string): void;
}

/** The value of setting `name` in settings.js, or of `earlier` (the name it had before) when `name` is not set. */
export function readSetting(settings: object, name: string, earlier?: string): unknown {
  const s = settings as Record<string, unknown>;
  if (s[name] !== undefined) return s[name];
  return earlier === undefined ? undefined : s[earlier];
}

/**
 * Warns once for each earlier name (key) that settings.js still sets, naming its new name (value).
 * Called where the type registers: once per Node-RED start.
 */
export function warnRenamedSettings(settings: object, log: Logger, renamed: Record<string, string>): void {
  const s = settings as Record<string, unknown>;
  for (const [earlier, name] of Object.entries(renamed)) {
    if (s[earlier] === undefined) continue;
    log.warn(
      s[name] === undefined
        ? `settings.js: '${earlier}' is deprecated; it still works, but rename it to '${name}'.`
        : `settings.js: '${earlier}' is deprecated and ignored, since '${name}' is set; remove '${earlier}'.`,
    );
  }
}
