// Which Node built-ins are loaded already: the agent loads its own at a moment of its choosing.

/**
 * Whether a Node built-in is loaded in this thread (Node's list of loaded modules: a load fires no
 * event); undefined where the list is missing.
 */
export function builtinLoaded(name: string): boolean | undefined {
  return (process as { moduleLoadList?: string[] }).moduleLoadList?.includes(`NativeModule ${name}`);
}
