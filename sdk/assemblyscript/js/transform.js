// An asc transform (asc --transform) that compiles without a shadow stack.
//
// asc treats every --runtime given as a path like its incremental collector:
// it reserves a shadow stack (stackSize 32768; 0 on the command line means
// "the default") and makes every function that holds an object spill it to
// linear memory and check a stack bound, which a collector needs to find its
// roots. The SDK's runtime (assembly/rt/arena.ts) never collects, so that code
// would only cost time and size: this transform turns the shadow stack off
// after parsing, before the compiler emits anything.
export default class NoShadowStack {
  afterParse() {
    const program = this.program;
    program.options.stackSize = 0;
    program.module.useShadowStack = false;
  }
}
