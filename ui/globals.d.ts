// What the page gets from Tauri (app.withGlobalTauri): the one door to the engine.
interface Window {
  __TAURI__: {
    core: {
      invoke<T>(cmd: string, args?: Record<string, unknown>): Promise<T>;
      Channel: new <T>() => { onmessage: (message: T) => void };
    };
  };
}
