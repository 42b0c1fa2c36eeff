/**
 * The project's WebAssembly modules are written as text (.wat) and embedded assembled, as base64,
 * in a generated file beside each source. EmbeddedModule compiles one on first use, and reads the
 * i32 constants it exports (the memory layout a kernel and its JavaScript side share) once, from an
 * instance on a scratch page, so that instances made later (one per reader, table or hasher) do
 * neither again.
 */
import { HOST_LITTLE_ENDIAN } from './trace/batch.js';

/**
 * Whether this host runs the kernels whose memory JavaScript reads and writes through typed
 * arrays: those hold numbers in the host's byte order, WebAssembly memory is little-endian.
 */
export const WASM_KERNELS_AVAILABLE: boolean = HOST_LITTLE_ENDIAN && typeof WebAssembly === 'object';

export class EmbeddedModule {
  private compiled: WebAssembly.Module | null = null;
  private exports: Record<string, unknown> | null = null;

  constructor(private readonly base64: string) {}

  get module(): WebAssembly.Module {
    this.compiled ??= new WebAssembly.Module(Uint8Array.from(atob(this.base64), (c) => c.charCodeAt(0)));
    return this.compiled;
  }

  /** The value of the exported i32 global `name`. */
  constant(name: string): number {
    // A module that imports its memory gets one scratch page; one that has its own ignores it.
    this.exports ??= new WebAssembly.Instance(this.module, { env: { memory: new WebAssembly.Memory({ initial: 1 }) } }).exports;
    const value = this.exports[name];
    if (!(value instanceof WebAssembly.Global)) throw new Error(`WebAssembly module exports no constant ${name}`);
    return value.value;
  }
}
