// The SDK's AssemblyScript runtime (asc --runtime): a bump allocator whose
// memory is handed back in one step at the start of every callback.
//
// A plugin instance runs one callback at a time and keeps nothing between
// callbacks but its configuration (Setting) and the SDK's buffers, so
// everything a callback allocates is garbage once its reply is copied out.
// Allocation is one addition; freeing is resetting one pointer. There is no
// garbage collector, no object header walk and no per-object free.
//
// Two marks split the heap: below `keepMark` lives what outlives callbacks
// (what _initialize built: handlers, schemas; the input buffer; parsed
// settings), above it what the current callback allocated. arenaReset() drops
// the callback's objects; arenaKeep() moves the mark up so that everything
// allocated so far is kept for good (the SDK calls it after growing its input
// buffer and after parsing a Setting, rare events whose garbage it leaks).
// docs/sdk-assemblyscript.md ("Memory") says what this means for plugin code.
//
// The block and object headers are AssemblyScript's (std/assembly/rt/common.ts),
// so the standard library works unchanged.

import { AL_MASK, OBJECT, OBJECT_OVERHEAD, BLOCK_OVERHEAD, BLOCK, OBJECT_MAXSIZE, TOTAL_OVERHEAD } from "rt/common";

// @ts-ignore: decorator
@lazy let startOffset: usize = ((__heap_base + BLOCK_OVERHEAD + AL_MASK) & ~AL_MASK) - BLOCK_OVERHEAD;
// @ts-ignore: decorator
@lazy let offset: usize = startOffset;
// @ts-ignore: decorator
@lazy let keepMark: usize = startOffset;

/** Moves offset to end, growing memory (doubling it when possible). Traps when memory cannot grow. */
function bump(end: usize): void {
  let pages = memory.size();
  let top = ((<usize>pages << 16) + AL_MASK) & ~AL_MASK;
  if (end > top) {
    let needed = <i32>(((end - top + 0xffff) & ~0xffff) >>> 16);
    if (memory.grow(max(pages, needed)) < 0) {
      if (memory.grow(needed) < 0) unreachable(); // the memory limit: the host reports it
    }
  }
  offset = end;
}

// @ts-ignore: decorator
@inline function blockSize(size: usize): usize {
  return ((size + BLOCK_OVERHEAD + AL_MASK) & ~AL_MASK) - BLOCK_OVERHEAD;
}

// @ts-ignore: decorator
@unsafe @global
function __alloc(size: usize): usize {
  if (size > OBJECT_MAXSIZE) unreachable();
  let block = changetype<BLOCK>(offset);
  let ptr = offset + BLOCK_OVERHEAD;
  let payload = blockSize(size);
  bump(ptr + payload);
  block.mmInfo = payload;
  return ptr;
}

// @ts-ignore: decorator
@unsafe @global
function __realloc(ptr: usize, size: usize): usize {
  let block = changetype<BLOCK>(ptr - BLOCK_OVERHEAD);
  let actual = block.mmInfo;
  if (ptr + actual == offset && ptr >= keepMark) { // the last block of this callback: grow in place
    let payload = blockSize(size);
    if (payload > actual) bump(ptr + payload);
    else offset = ptr + payload;
    block.mmInfo = payload;
    return ptr;
  }
  if (size <= actual) return ptr;
  let moved = __alloc(size);
  memory.copy(moved, ptr, actual);
  return moved;
}

// @ts-ignore: decorator
@unsafe @global
function __free(ptr: usize): void {
  let block = changetype<BLOCK>(ptr - BLOCK_OVERHEAD);
  if (ptr + block.mmInfo == offset && ptr >= keepMark) offset = changetype<usize>(block);
}

// @ts-ignore: decorator
@unsafe @global
function __new(size: usize, id: u32): usize {
  if (size > OBJECT_MAXSIZE) unreachable();
  let ptr = __alloc(OBJECT_OVERHEAD + size);
  let object = changetype<OBJECT>(ptr - BLOCK_OVERHEAD);
  object.gcInfo = 0;
  object.gcInfo2 = 0;
  object.rtId = id;
  object.rtSize = <u32>size;
  // Zeroed, as the standard library expects of a runtime that asc counts as
  // incremental (it then skips its own zeroing), and as reused arena memory
  // is not.
  memory.fill(ptr + OBJECT_OVERHEAD, 0, size);
  return ptr + OBJECT_OVERHEAD;
}

// @ts-ignore: decorator
@unsafe @global
function __renew(oldPtr: usize, size: usize): usize {
  if (size > OBJECT_MAXSIZE) unreachable();
  let old = <usize>changetype<OBJECT>(oldPtr - TOTAL_OVERHEAD).rtSize;
  let ptr = __realloc(oldPtr - OBJECT_OVERHEAD, OBJECT_OVERHEAD + size);
  changetype<OBJECT>(ptr - BLOCK_OVERHEAD).rtSize = <u32>size;
  if (size > old) memory.fill(ptr + OBJECT_OVERHEAD + old, 0, size - old); // the new part zeroed, as __new's
  return ptr + OBJECT_OVERHEAD;
}

// Nothing to track: there is no collector.

// @ts-ignore: decorator
@global @unsafe
function __link(parentPtr: usize, childPtr: usize, expectMultiple: bool): void {}

// @ts-ignore: decorator
@global @unsafe
function __pin(ptr: usize): usize { return ptr; }

// @ts-ignore: decorator
@global @unsafe
function __unpin(ptr: usize): void {}

// @ts-ignore: decorator
@global @unsafe
function __visit(ptr: usize, cookie: u32): void {}

// @ts-ignore: decorator
@global @unsafe
function __collect(): void {}

/** Drops everything allocated since the last arenaKeep (the previous callback's objects). */
// @ts-ignore: decorator
@global @unsafe
function __imhook_arena_reset(): void {
  offset = keepMark;
}

/** Keeps everything allocated so far for the life of the instance. */
// @ts-ignore: decorator
@global @unsafe
function __imhook_arena_keep(): void {
  keepMark = offset;
}

/** Bytes of heap in use (kept and this callback's), for tests and diagnostics. */
// @ts-ignore: decorator
@global @unsafe
function __imhook_arena_used(): usize {
  return offset - startOffset;
}

/**
 * Allocates size bytes that outlive callbacks, or returns 0 when memory
 * cannot grow that far (instead of trapping): for the input buffer, whose
 * allocation failure the ABI reports as 0.
 */
// @ts-ignore: decorator
@global @unsafe
function __imhook_arena_alloc_kept(size: usize): usize {
  if (size > OBJECT_MAXSIZE) return 0;
  let end = offset + BLOCK_OVERHEAD + blockSize(size);
  let pages = memory.size();
  let top = (<usize>pages << 16) & ~AL_MASK;
  if (end > top) {
    let needed = <i32>(((end - top + 0xffff) & ~0xffff) >>> 16);
    if (memory.grow(needed) < 0) return 0;
  }
  let p = __alloc(size);
  keepMark = offset;
  return p;
}
