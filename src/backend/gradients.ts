/**
 * Register tfjs-core's gradient functions.
 *
 * Why this file exists: `@tensorflow/tfjs-core`'s Node entry (dist/tf-core.node.js) registers
 * no gradients; the `@tensorflow/tfjs` bundle does it by importing
 * `@tensorflow/tfjs-core/dist/register_all_gradients`, and without that every `tf.grads` /
 * `tf.variableGrads` fails with "gradient function not found for Sum". That module is shipped
 * only as ESM with extensionless relative imports (`./gradients/Abs_grad`), which Node's ESM
 * loader refuses. tfjs-core keeps its registries and engine on a global object
 * (`getGlobal('gradRegistry')`, `ns._tfengine`), so a second copy of the gradient code
 * registers into the same engine the rest of the program uses.
 *
 * We load that published module at run time, unchanged: bundled in memory with esbuild (a
 * dependency of ours; ~0.25 s), or, if esbuild is unavailable, through
 * a resolve hook that adds the missing `.js` extensions (slower: ~1.5 s of module loading).
 */
import { createRequire, register } from 'node:module';
import { pathToFileURL } from 'node:url';

let done: Promise<void> | null = null;

async function viaEsbuild(entry: string): Promise<boolean> {
  let esbuild: typeof import('esbuild');
  try {
    esbuild = await import('esbuild');
  } catch {
    return false;
  }
  const out = await esbuild.build({ entryPoints: [entry], bundle: true, write: false, format: 'esm', platform: 'neutral', logLevel: 'silent' });
  const code = out.outputFiles[0]!.text;
  await import('data:text/javascript,' + encodeURIComponent(code));
  return true;
}

const RESOLVE_HOOK = `
export async function resolve(specifier, context, next) {
  const parent = context.parentURL ?? '';
  if (parent.includes('/@tensorflow/tfjs-core/dist/') && specifier.startsWith('.') && !/\\.m?js$/.test(specifier)) {
    try { return await next(specifier + '.js', context); } catch { return next(specifier + '/index.js', context); }
  }
  return next(specifier, context);
}`;

async function viaResolveHook(entry: string): Promise<void> {
  register('data:text/javascript,' + encodeURIComponent(RESOLVE_HOOK));
  await import(pathToFileURL(entry).href);
}

/** Idempotent; safe to call from every entry point. */
export function registerAllGradients(): Promise<void> {
  done ??= (async () => {
    const tf = await import('@tensorflow/tfjs-core');
    if (tf.getGradient('Sum')) return; // someone (e.g. the @tensorflow/tfjs bundle) already did it
    const require = createRequire(import.meta.url);
    const entry = require.resolve('@tensorflow/tfjs-core/dist/register_all_gradients.js');
    if (!(await viaEsbuild(entry))) await viaResolveHook(entry);
  })();
  return done;
}
