/** Project kernels for the wasm backend; registering them is idempotent. */
import { registerConvGradKernels } from './conv-grad.ts';
import { registerIdentityKernel } from './identity.ts';

export { conv2dBackpropFilterWasm, conv2dBackpropInputWasm } from './conv-grad.ts';
export { identityWasm } from './identity.ts';

let registered = false;

/** Registers every project kernel for `wasm`. Call before the wasm backend is first initialised. */
export function registerWasmKernels(): void {
  if (registered) return;
  registerConvGradKernels();
  registerIdentityKernel();
  registered = true;
}
