// guest.ts: an AssemblyScript module for the metering corpus, compiled with
//
//   asc guest.ts -O2 --runtime stub --use abort= -o guest.wasm
//
// (assemblyscript 0.28). It exercises what the AssemblyScript compiler emits
// for loops, recursion, arrays, strings and switch statements.

export function fib(n: i32): i64 {
  return n < 2 ? <i64>n : fib(n - 1) + fib(n - 2);
}

export function primes(n: i32): i32 {
  const composite = new Array<bool>(n);
  let count = 0;
  for (let i = 2; i < n; i++) {
    if (composite[i]) continue;
    count++;
    for (let j = i * i; j < n; j += i) composite[j] = true;
  }
  return count;
}

export function words(n: i32): i32 {
  let s = "";
  for (let i = 0; i < n; i++) {
    s += i.toString() + ",";
  }
  let h: u32 = 2166136261;
  for (let i = 0; i < s.length; i++) {
    h = (h ^ <u32>s.charCodeAt(i)) * 16777619;
  }
  return <i32>h;
}

export function classify(x: i32): i32 {
  switch (x) {
    case 0: return 10;
    case 1: return 20;
    case 2: return 30;
    case 5: return 60;
    default: return -1;
  }
}

export function spin(): void {
  let x = 0;
  while (true) {
    x++;
  }
}
