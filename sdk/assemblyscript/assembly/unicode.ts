// Per-character case mapping with Go's tables (unicode.ToLower), so that a
// plugin ported from Go, like examples/moderation-as, folds case exactly as
// the Go plugin does; the table is generated (zunicode.ts).

import { LOWER_RANGES, UPPER_LOWER } from "./zunicode";

/** Go's unicode.ToLower: the lower-case of code point r, or r. */
export function toLower(r: i32): i32 {
  if (r < 0x80) return r >= 0x41 && r <= 0x5a ? r + 0x20 : r;
  let lo = 0;
  let hi = LOWER_RANGES.length / 3;
  while (lo < hi) {
    let m = (lo + hi) >>> 1;
    let base = m * 3;
    let a = unchecked(LOWER_RANGES[base]);
    if (r < a) {
      hi = m;
      continue;
    }
    if (r > unchecked(LOWER_RANGES[base + 1])) {
      lo = m + 1;
      continue;
    }
    let d = unchecked(LOWER_RANGES[base + 2]);
    if (d == UPPER_LOWER) return a + (((r - a) & ~1) | 1);
    return r + d;
  }
  return r;
}
