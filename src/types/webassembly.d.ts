/**
 * The part of the WebAssembly JS API the project uses. TypeScript declares it only in the DOM
 * libraries, which this Node project does not load; @types/node declares the namespace empty.
 */
declare namespace WebAssembly {
  class Module {
    constructor(bytes: Uint8Array);
  }
  class Instance {
    constructor(module: Module, imports?: Record<string, Record<string, unknown>>);
    readonly exports: Record<string, unknown>;
  }
  interface MemoryDescriptor {
    /** Size in 64 KiB pages. */
    initial: number;
    maximum?: number;
  }
  class Memory {
    constructor(descriptor: MemoryDescriptor);
    /** The buffer: replaced (the old one detached) by each grow. */
    readonly buffer: ArrayBuffer;
    /** Adds `pages` 64 KiB pages; returns the old size in pages. Throws RangeError when it cannot. */
    grow(pages: number): number;
  }
  class Global {
    readonly value: number;
  }
}
